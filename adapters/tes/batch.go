package tes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"

	"github.com/knutpunkt/knutpunkt"
	"github.com/knutpunkt/knutpunkt/internal/jsonscan"
	"github.com/knutpunkt/knutpunkt/internal/records"
)

// Sync is one phone sync as the registration system pushes it: the
// visits the phone registered since it last synced (offline ones hours
// or days late), each a visit of schemas/tes/export.schema.json.
type Sync struct {
	// SyncID names the sync, 1-128 characters: the correlation id of its
	// visits, so `knut trace` finds them together.
	SyncID string `json:"syncId"`
	// DeviceID is the phone's id, if the system says.
	DeviceID string `json:"deviceId,omitempty"`
	// SentAt is when the system sent the sync (RFC 3339), if it says.
	SentAt string `json:"sentAt,omitempty"`
	// Visits are the records, 1 to max_visits.
	Visits []json.RawMessage `json:"visits"`
}

// readSync reads a sync body strictly: duplicate or unknown keys, a
// missing syncId and an empty or oversized visits list refuse it whole.
func readSync(body []byte, maxVisits int) (Sync, error) {
	var s Sync
	if err := jsonscan.CheckKeys(body); err != nil {
		return s, fmt.Errorf("sync: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("sync: not a TES sync ({\"syncId\", \"deviceId\", \"sentAt\", \"visits\": [...]}): %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return s, errors.New("sync: more than one JSON value in the body")
	}
	switch {
	case s.SyncID == "" || len(s.SyncID) > 128:
		return s, errors.New("sync: syncId: required, 1-128 characters")
	case len(s.Visits) == 0:
		return s, errors.New("sync: visits: a sync carries at least one visit")
	case len(s.Visits) > maxVisits:
		return s, fmt.Errorf("sync: visits: %d visits, at most %d in one sync: send it in parts", len(s.Visits), maxVisits)
	}
	return s, nil
}

// visitKey is a visit record's idempotency key: its visitId and version
// and a digest of the record. The same record sent again (a retried sync,
// the nightly export of a visit pushed in the day) is a duplicate; a
// correction (a higher version) is new; the same version with other
// content is new too, so the store sees it and refuses it with its reason
// instead of the message log dropping it as a duplicate.
func visitKey(raw []byte) string {
	var head struct {
		VisitID any `json:"visitId"`
		Version any `json:"version"`
	}
	_ = json.Unmarshal(raw, &head) // what is wrong with the record is the pipeline's to say
	var compact bytes.Buffer
	if json.Compact(&compact, raw) != nil {
		compact.Reset()
		compact.Write(raw)
	}
	sum := sha256.Sum256(compact.Bytes())
	id, _ := head.VisitID.(string)
	v := "-"
	if n, ok := head.Version.(float64); ok {
		v = strconv.FormatFloat(n, 'f', -1, 64)
	}
	if len(id) > 128 {
		id = id[:128]
	}
	return id + "@" + v + "#" + hex.EncodeToString(sum[:8])
}

// visitMessage is one visit of a sync or file as a message.
func visitMessage(from knutpunkt.Message, contentType, externalID, correlation string, body []byte) knutpunkt.Message {
	h := map[string]string{
		knutpunkt.HeaderContentType:   contentType,
		knutpunkt.HeaderSourceSystem:  SourceSystem,
		knutpunkt.HeaderExternalID:    externalID,
		knutpunkt.HeaderCorrelationID: correlation,
	}
	for _, k := range []string{knutpunkt.HeaderCaller, knutpunkt.HeaderFilename} {
		if v := from.Header(k); v != "" {
			h[k] = v
		}
	}
	return knutpunkt.Message{Headers: h, Body: body}
}

// splitSync is the push source's Splitter: one message per visit.
func splitSync(maxVisits int) func(m knutpunkt.Message) ([]knutpunkt.Message, error) {
	return func(m knutpunkt.Message) ([]knutpunkt.Message, error) {
		s, err := readSync(m.Body, maxVisits)
		if err != nil {
			return nil, err
		}
		out := make([]knutpunkt.Message, len(s.Visits))
		for i, raw := range s.Visits {
			out[i] = visitMessage(m, "application/json", visitKey(raw), s.SyncID, raw)
		}
		return out, nil
	}
}

// fileFormat is how an export file is read.
type fileFormat int

const (
	csvFile   fileFormat = iota // a header row, one visit per row
	jsonFile                    // a sync object, or an array of visits
	jsonLines                   // one visit per line
)

// formatOf is the format of the files pattern matches, by extension.
func formatOf(pattern string) (fileFormat, error) {
	switch strings.ToLower(path.Ext(pattern)) {
	case ".csv":
		return csvFile, nil
	case ".json":
		return jsonFile, nil
	case ".jsonl", ".ndjson":
		return jsonLines, nil
	}
	return 0, fmt.Errorf("must end in .csv, .json, .jsonl or .ndjson (the export's format), got %q", pattern)
}

// splitFile makes one message per visit of an export file m. The external
// id of a CSV row is the file's name and the row's line, as `knut import`
// names it; a JSON visit's is its visitKey, so a visit both pushed and
// exported is one message.
func splitFile(format fileFormat, m knutpunkt.Message) ([]knutpunkt.Message, error) {
	name := m.Header(knutpunkt.HeaderFilename)
	correlation := m.ID
	switch format {
	case csvFile:
		ct := m.Header(knutpunkt.HeaderContentType)
		var out []knutpunkt.Message
		rr := records.NewReader(bytes.NewReader(m.Body), records.CSV, len(m.Body)+1)
		for {
			rec, err := rr.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", name, err)
			}
			out = append(out, visitMessage(m, ct, name+":"+strconv.Itoa(rec.Line), correlation, rec.Body))
		}
	case jsonLines:
		var out []knutpunkt.Message
		rr := records.NewReader(bytes.NewReader(m.Body), records.Lines, len(m.Body)+1)
		for {
			rec, err := rr.Next()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", name, err)
			}
			out = append(out, visitMessage(m, "application/json", visitKey(rec.Body), correlation, rec.Body))
		}
	}
	body := bytes.TrimSpace(m.Body)
	var visits []json.RawMessage
	switch {
	case len(body) > 0 && body[0] == '[':
		if err := jsonscan.CheckKeys(body); err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		if err := json.Unmarshal(body, &visits); err != nil {
			return nil, fmt.Errorf("file %s: not a JSON array of visits: %w", name, err)
		}
	default:
		s, err := readSync(body, len(body))
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", name, err)
		}
		visits, correlation = s.Visits, s.SyncID
	}
	out := make([]knutpunkt.Message, len(visits))
	for i, raw := range visits {
		out[i] = visitMessage(m, "application/json", visitKey(raw), correlation, raw)
	}
	return out, nil
}
