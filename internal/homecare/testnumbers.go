package homecare

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"sync"
)

// officialTestNumbersGz holds every official test personnummer and test samordningsnummer
// published by Skatteverket as open data ("Testpersonnummer", numbers that can never be
// assigned to a real person), as copied by github.com/personnummer/meta at commit
// c44a844af66b3a810a72f4b0206d21489bf6f52d (testdata/allPins.json, 41,127 unique numbers, and
// testdata/allCoords.json, 2,264 numbers; MIT). The full list is embedded rather than a subset
// because it costs only ~18 KB: the sorted numbers are stored as decimal differences, one per
// line, gzip-compressed, after '#' comment lines. TestOfficialTestNumbersFile checks it against
// /work/shared/ext/personnummer and rewrites it with -update.
//
//go:embed officialtestnumbers.gz
var officialTestNumbersGz []byte

// officialTestNumbers decodes the embedded list once, on first use, into a sorted slice that is
// binary-searched (~350 KB, against several MB for a map).
var officialTestNumbers = sync.OnceValue(func() []uint64 {
	zr, err := gzip.NewReader(bytes.NewReader(officialTestNumbersGz))
	if err != nil {
		panic("homecare: embedded official test numbers: " + err.Error())
	}
	var (
		out  = make([]uint64, 0, 43400)
		prev uint64
		sc   = bufio.NewScanner(zr)
	)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		d, err := strconv.ParseUint(string(line), 10, 64)
		if err != nil {
			panic("homecare: embedded official test numbers: " + err.Error())
		}
		prev += d
		out = append(out, prev)
	}
	if err := sc.Err(); err != nil {
		panic("homecare: embedded official test numbers: " + err.Error())
	}
	return out
})

// IsOfficialTestNumber reports whether p is one of Skatteverket's official test personnummer
// or test samordningsnummer. Non-production hubs use it to refuse anything that might be a
// real person's number (DOMAIN.md §5.2); production may use it to refuse test data. A reserve
// number is never one: Skatteverket publishes no test reserve numbers (they are healthcare's,
// not its), and interim numbers in other projects' test data are examples, not a list that
// can never reach a real person, so a non-production hub refuses them as a client's id.
func IsOfficialTestNumber(p PersonID) bool {
	if p.IsZero() {
		return false
	}
	n, err := strconv.ParseUint(p.digits, 10, 64)
	if err != nil {
		return false
	}
	_, found := slices.BinarySearch(officialTestNumbers(), n)
	return found
}

// demoPersonIDs is a hand-picked slice of the official list: 39 personnummer, mostly born
// 1922-1951 as home-care clients typically are, alternating sex, plus a few younger people,
// and 6 samordningsnummer. Source as for officialTestNumbersGz.
var demoPersonIDs = [...]string{
	"192205179274", "192305078400", "192406099198", "192505139267", "192604039178",
	"192705048409", "192804129175", "192905209181", "193004029173", "193106226305",
	"193204079192", "193305068268", "193404216958", "193505098743", "193604078455",
	"193705019200", "193804019036", "193906179183", "194001042383", "194004057032",
	"194105199121", "194206147490", "194305239065", "194401162393", "194504302383",
	"194604123275", "194705193748", "194805111855", "194903132761", "195005251599",
	"195106092249", "196006172818", "197507109291", "198807012391", "199907012380",
	"200507022390", "201207022383", "201807022395", "202003162381",
	// samordningsnummer
	"193501752384", "194200622399", "195000692383", "196800762392", "198502862397",
	"200100612381",
}

// OfficialTestPersonIDs returns a fresh copy of a small, stable set of official test numbers
// (39 personnummer, then 6 samordningsnummer) for the demo, simulators and tests, so that no
// code path ever needs to invent a number that could belong to a real person.
func OfficialTestPersonIDs() []PersonID {
	out := make([]PersonID, len(demoPersonIDs))
	for i, s := range demoPersonIDs {
		p, err := ParsePersonID(s) // 12 digits: the clock plays no part
		if err != nil {
			panic("homecare: bad demo person id: " + err.Error())
		}
		out[i] = p
	}
	return out
}

// OfficialTestPersonIDsBorn returns n official test personnummer of people born in the
// years from, from+1, … (one a year, starting again at from when n exceeds the years), none of
// them among OfficialTestPersonIDs: the demo's and the simulators' staff, adults who are not
// the demo's clients. The same arguments give the same numbers.
func OfficialTestPersonIDsBorn(from, to, n int) []PersonID {
	clients := map[string]bool{}
	for _, s := range demoPersonIDs {
		clients[s] = true
	}
	all := officialTestNumbers()
	taken := map[uint64]bool{}
	var out []PersonID
	for len(out) < n {
		before := len(out)
		for year := from; year <= to && len(out) < n; year++ {
			lo := uint64(year) * 1e8
			for i, _ := slices.BinarySearch(all, lo); i < len(all) && all[i] < lo+1e8; i++ {
				v := all[i]
				if day := v / 1e4 % 100; taken[v] || day > 31 || clients[strconv.FormatUint(v, 10)] {
					continue // used, a samordningsnummer (day + 60), or a client
				}
				p, err := ParsePersonID(strconv.FormatUint(v, 10))
				if err != nil {
					continue
				}
				taken[v] = true
				out = append(out, p)
				break
			}
		}
		if len(out) == before {
			panic(fmt.Sprintf("homecare: fewer than %d official test numbers born %d-%d", n, from, to))
		}
	}
	return out
}
