package homecare

import (
	"errors"
	"fmt"
	"slices"
)

// DirectoryPerson is one person as a staff directory lists them (HSA over RIV-TA, an
// LDAP tree): the canonical staff record (schemas/canonical/staff.schema.json). A
// directory sync is a snapshot of these, every person the directory lists under its base;
// the hub compares it with what it holds and records who joined, changed and left.
//
// A person is known by any of their HSA-IDs (one person may hold several, and an HSA-ID
// survives a personnummer change) or, without one, by the provider's own staff id.
type DirectoryPerson struct {
	Directory       string       `json:"directory"`
	ProviderID      string       `json:"provider_id"`
	HSAIDs          []HSAID      `json:"hsa_ids,omitempty"`
	StaffRef        string       `json:"staff_ref,omitempty"`
	PersonID        PersonID     `json:"person_id,omitzero"`
	GivenName       string       `json:"given_name,omitempty"`
	FamilyName      string       `json:"family_name,omitempty"`
	Mail            string       `json:"mail,omitempty"`
	Title           string       `json:"title,omitempty"`
	Units           []string     `json:"units,omitempty"`
	EmploymentEnd   Date         `json:"employment_end,omitzero"`
	ProtectedPerson bool         `json:"protected_person,omitempty"`
	Commissions     []Commission `json:"commissions,omitempty"`
}

// Commission is a medarbetaruppdrag from HSA: what the person may do for which care unit,
// and when (DOMAIN.md §8a Commission).
type Commission struct {
	HSAID             HSAID  `json:"hsa_id"`
	Name              string `json:"name,omitempty"`
	Purpose           string `json:"purpose,omitempty"`
	CareUnitHSAID     HSAID  `json:"care_unit_hsa_id,omitempty"`
	CareProviderHSAID HSAID  `json:"care_provider_hsa_id,omitempty"`
	ValidFrom         Date   `json:"valid_from,omitzero"`
	ValidTo           Date   `json:"valid_to,omitzero"`
}

// Key is how the hub tells the person apart within the directory's provider: the first
// HSA-ID, or the provider's staff id.
func (p DirectoryPerson) Key() string {
	if len(p.HSAIDs) > 0 {
		return "hsa:" + string(p.HSAIDs[0])
	}
	return "ref:" + p.ProviderID + "/" + p.StaffRef
}

// ActiveOn reports whether the person works on day: the employment has not ended, and,
// when the directory lists commissions, one of them is valid that day. A person whose
// every commission ended has left as far as the hub is concerned (DOMAIN.md §4.3).
func (p DirectoryPerson) ActiveOn(day Date) bool {
	if !p.EmploymentEnd.IsZero() && p.EmploymentEnd.Before(day) {
		return false
	}
	if len(p.Commissions) == 0 {
		return true
	}
	return slices.ContainsFunc(p.Commissions, func(c Commission) bool {
		return (c.ValidFrom.IsZero() || !day.Before(c.ValidFrom)) && (c.ValidTo.IsZero() || !c.ValidTo.Before(day))
	})
}

// Validate checks what the schema cannot: HSA-IDs in the directory's format (test forms
// only with opts.AllowTestHSAIDs), no HSA-ID twice, and a personnummer that is an official
// test number where opts.RequireTestPersonIDs. Errors name the field, never the value.
func (p DirectoryPerson) Validate(opts ValidateOptions) error {
	var errs []error
	if p.Directory == "" || p.ProviderID == "" {
		errs = append(errs, errors.New("directory and provider_id are required"))
	}
	if len(p.HSAIDs) == 0 && p.StaffRef == "" {
		errs = append(errs, errors.New("hsa_ids or staff_ref is required"))
	}
	for i, h := range p.HSAIDs {
		if _, err := ParseHSAID(string(h), opts.AllowTestHSAIDs); err != nil {
			errs = append(errs, fmt.Errorf("hsa_ids[%d]: %w", i, err))
		}
		if slices.Index(p.HSAIDs, h) < i {
			errs = append(errs, fmt.Errorf("hsa_ids[%d]: listed twice", i))
		}
	}
	if !p.PersonID.IsZero() && opts.RequireTestPersonIDs && !IsOfficialTestNumber(p.PersonID) {
		errs = append(errs, errors.New("person_id: not an official test number (outside production only those are accepted)"))
	}
	for i, c := range p.Commissions {
		if _, err := ParseHSAID(string(c.HSAID), opts.AllowTestHSAIDs); err != nil {
			errs = append(errs, fmt.Errorf("commissions[%d].hsa_id: %w", i, err))
		}
		if !c.ValidFrom.IsZero() && !c.ValidTo.IsZero() && c.ValidTo.Before(c.ValidFrom) {
			errs = append(errs, fmt.Errorf("commissions[%d]: valid_to is before valid_from", i))
		}
	}
	return errors.Join(errs...)
}
