// Package pipeline turns pipeline YAML into a typed, fully resolved Plan and
// runs a Plan's steps on one message.
//
// A pipeline file (pipelines/<name>.yaml; the file name is the pipeline's
// name) says where messages come from (an adapter or a topic), a short closed
// list of steps (validate, map, store, route, split), where they go (an
// adapter or a topic), and how failures are handled (retry, dead_letter,
// order_by). Loading is strict: an unknown key, a reference to a missing
// mapping or schema, or a bad adapter config is reported with its file, line
// and YAML path, and every problem in a file is reported at once.
//
// Process is pure with respect to the outside world: it never sends or
// stores anything itself. It returns the messages to send and the canonical
// entities to store, so the caller (internal/router for `knut serve`, the
// import command for batch loads) can commit entity writes together with the
// message's status in one transaction and publish only after that.
package pipeline
