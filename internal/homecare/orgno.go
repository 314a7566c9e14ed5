package homecare

import "errors"

// OrgNo is a Swedish organisationsnummer in its 10-digit form (NNNNNNNNNN), identifying a
// municipality, a provider company or an HSA directory owner.
type OrgNo string

// ParseOrgNo accepts "NNNNNNNNNN" or "NNNNNN-NNNN" and checks the Bolagsverket rules: the
// check digit is Luhn (weights 2,1) over the first nine digits, and the third digit is at
// least 2, which keeps organisationsnummer apart from personnummer (whose third digit is the
// first digit of a month). A sole trader's personnummer is therefore not an OrgNo here.
func ParseOrgNo(s string) (OrgNo, error) {
	var d [10]byte
	switch {
	case len(s) == 10:
		copy(d[:], s)
	case len(s) == 11 && s[6] == '-':
		copy(d[:6], s[:6])
		copy(d[6:], s[7:])
	default:
		return "", errors.New("orgno: want 10 digits, optionally with '-' before the last four")
	}
	for _, c := range d {
		if !isDigit(c) {
			return "", errors.New("orgno: want 10 digits, optionally with '-' before the last four")
		}
	}
	if d[2] < '2' {
		return "", errors.New("orgno: third digit must be 2 or more")
	}
	if luhn(d[:9]) != d[9]-'0' {
		return "", errors.New("orgno: check digit does not match")
	}
	return OrgNo(d[:]), nil
}

// String returns the 10-digit form.
func (o OrgNo) String() string { return string(o) }

// Separated returns the conventional written form NNNNNN-NNNN.
func (o OrgNo) Separated() string {
	if len(o) != 10 {
		return string(o)
	}
	return string(o[:6]) + "-" + string(o[6:])
}
