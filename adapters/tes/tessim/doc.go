// Package tessim simulates a TES-style time and insats registration system
// (DOMAIN.md §2): the phones of a municipality's home-care staff
// registering visits, day by day, from the orders in force, and the TES
// server pushing what the phones synced to the hub (POST
// /ingest/tes_sync) and dropping the nightly CSV export.
//
// It exists because the hub's rules for visits (late records, phone
// clocks, double staffing, cohabitants, declines, corrections; DOMAIN.md
// §2.4 and §6.4) only matter on data that looks like the field's: visits
// that start late and run over, a few registered by hand, phones offline
// for hours and one that syncs days later, a clock far off, a tag read at
// the wrong door, a supervisor's correction the next morning. Every draw
// comes from a seed, so a run can be replayed exactly.
//
// The input is a Plan (clients with their granted insatser, slots and tags;
// providers with staff and phones), built by its user (the demo, from its
// orders); clients carry official Skatteverket test personnummer only.
// Simulator.Day produces a day: the visits performed, the batches TES sends
// that day (each with the simulated time it is due) and the night's export.
// Push sends a batch; WriteNightlyCSV and DropNightly write the export.
// Test and demo code only: it keeps everything in memory.
package tessim
