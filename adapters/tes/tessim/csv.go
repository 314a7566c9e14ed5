package tessim

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// CSVColumns are the columns of the nightly export, in order: those of
// schemas/tes/README.md ("XML and CSV"), then the sync fields (start and
// end method and tag, the phone's times, the receipt, the planned visit,
// the cohabitant's visit). A cell is empty where the field is absent.
var CSVColumns = []string{
	"besok_id", "version", "personnummer", "tagg", "start", "slut", "hsa_id", "personal_id",
	"hsa_id_2", "personal_id_2", "utforare", "enhet", "metod", "offline", "status", "insatser",
	"start_metod", "slut_metod", "start_tagg", "slut_tagg", "enhet_start", "enhet_slut", "mottagen",
	"planerat_besok", "sambo_besok",
}

// Charset is the character encoding of the export.
type Charset int

// The charsets: UTF-8 (the zero value), or Windows-1252 as many Swedish
// exports are.
const (
	UTF8 Charset = iota
	Windows1252
)

// WriteNightlyCSV writes visits as the nightly export: semicolons, a
// header row, one visit per row, times RFC 3339 with their offset,
// insatser packed KOD[:MIN][:dubbel][:avbojd[=ORSAK]] and joined by |.
// A character Windows-1252 lacks is an error in that charset.
func WriteNightlyCSV(w io.Writer, visits []Visit, cs Charset) error {
	var enc io.Writer = w
	var flush func() error
	switch cs {
	case UTF8:
	case Windows1252:
		tw := transform.NewWriter(w, charmap.Windows1252.NewEncoder())
		enc = tw
		flush = tw.Close
	default:
		return fmt.Errorf("tessim: write csv: unknown charset %d", cs)
	}
	cw := csv.NewWriter(enc)
	cw.Comma = ';'
	if err := cw.Write(CSVColumns); err != nil {
		return fmt.Errorf("tessim: write csv: %w", err)
	}
	for _, v := range visits {
		if err := cw.Write(csvRow(v)); err != nil {
			return fmt.Errorf("tessim: write csv: visit %s: %w", v.VisitID, err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("tessim: write csv: %w", err)
	}
	if flush != nil {
		if err := flush(); err != nil {
			return fmt.Errorf("tessim: write csv: %w", err)
		}
	}
	return nil
}

// csvRow is v's row, one cell per CSVColumns.
func csvRow(v Visit) []string {
	var staff [2]Staff
	for i, s := range v.Staff {
		if i < 2 {
			staff[i] = s.Staff
		}
	}
	offline := "nej"
	if v.Offline {
		offline = "ja"
	}
	ins := make([]string, len(v.Insatser))
	for i, in := range v.Insatser {
		s := in.Code
		if in.Minutes > 0 {
			s += ":" + strconv.Itoa(in.Minutes)
		}
		if in.DoubleStaffed {
			s += ":dubbel"
		}
		if in.Declined {
			s += ":avbojd"
			if in.DeclinedReason != "" {
				s += "=" + in.DeclinedReason
			}
		}
		ins[i] = s
	}
	return []string{
		v.VisitID, strconv.Itoa(v.Version), v.ClientPnr, v.TagUID, stamp(v.Start), stamp(v.End),
		staff[0].HSAID, staff[0].StaffID, staff[1].HSAID, staff[1].StaffID, v.Provider, v.Unit,
		string(v.Method), offline, string(v.Status), strings.Join(ins, "|"),
		string(v.StartMethod), string(v.EndMethod), v.StartTagUID, v.EndTagUID,
		stamp(v.DeviceStart), stamp(v.DeviceEnd), stamp(v.ReceivedAt), v.PlannedVisitID, v.SharedVisitID,
	}
}

// stamp is t in RFC 3339 with its offset, "" for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}

// ExportName is the file name of day's export: tes-export-2026-11-23.csv.
func ExportName(day homecare.Date) string { return "tes-export-" + day.String() + ".csv" }

// DropNightly writes day's export into dir, where the hub polls for it,
// and returns its path. It appears whole or not at all: written to a
// hidden .tmp file first (which the hub's drop directories ignore),
// synced, then renamed. An export already there is replaced.
func DropNightly(dir string, day homecare.Date, visits []Visit, cs Charset) (string, error) {
	f, err := os.CreateTemp(dir, ".tes-export-*.tmp")
	if err != nil {
		return "", fmt.Errorf("tessim: drop export: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename there is nothing to remove
	bw := bufio.NewWriter(f)
	err = WriteNightlyCSV(bw, visits, cs)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	path := filepath.Join(dir, ExportName(day))
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return "", fmt.Errorf("tessim: drop export: %w", err)
	}
	return path, nil
}
