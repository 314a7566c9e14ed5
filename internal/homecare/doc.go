// Package homecare holds Knutpunkt's canonical home-care model (DOMAIN.md §8a) and the Swedish
// identifiers it rests on: personnummer and samordningsnummer (PersonID), HSA-IDs (HSAID) and
// organisationsnummer (OrgNo).
//
// The package is pure: no database, no network, no logging. Identifiers are parsed once at the
// edge and carried as small value types, so the rest of the hub never handles a raw string that
// might be malformed. Errors from the parsers never repeat the input, because the input is
// personal data and errors end up in logs and dead-letter rows.
package homecare
