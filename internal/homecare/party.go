package homecare

import (
	"time"

	"github.com/google/uuid"
)

// Municipality is a tenant: the kommun that grants home care, orders it from providers and
// pays for it. Every other entity belongs to exactly one (DOMAIN.md §8a).
type Municipality struct {
	ID               uuid.UUID `json:"id"`
	Name             string    `json:"name"`
	OrgNo            OrgNo     `json:"org_no"`
	MunicipalityCode string    `json:"municipality_code"` // SCB kommunkod, 4 digits, e.g. "0184" for Solna
	HSAID            HSAID     `json:"hsa_id,omitempty"`
	Timezone         string    `json:"timezone"` // always "Europe/Stockholm" today; kept for exports
	RulesetID        uuid.UUID `json:"ruleset_id,omitzero"`
	PaymentRunDay    int       `json:"payment_run_day,omitempty"` // day of month the payment run uses, e.g. 6
}

// ProviderKind says how a provider came to deliver care, which decides payment and follow-up
// rules (LOV providers are paid per performed minute, in-house ones often are not).
type ProviderKind string

// The provider kinds.
const (
	ProviderEgenRegi ProviderKind = "egen_regi" // the municipality's own home-care service
	ProviderLOV      ProviderKind = "lov"       // private provider chosen by the client under LOV
	ProviderLOU      ProviderKind = "lou"       // private provider procured under LOU
)

// UnmarshalText accepts only the known kinds.
func (k *ProviderKind) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "provider kind", ProviderEgenRegi, ProviderLOV, ProviderLOU)
	*k = v
	return err
}

// ServiceScope is what a provider may deliver: service (cleaning, shopping), omvårdnad
// (personal care) or HSL (delegated health care); a provider may hold several.
type ServiceScope string

// The service scopes.
const (
	ScopeService   ServiceScope = "service"
	ScopeOmvardnad ServiceScope = "omvardnad"
	ScopeHSL       ServiceScope = "hsl"
)

// UnmarshalText accepts only the known scopes.
func (s *ServiceScope) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "service scope", ScopeService, ScopeOmvardnad, ScopeHSL)
	*s = v
	return err
}

// ExternalID links an entity to its identifier in another system (case system, TES, lock
// vendor), so messages from that system can be matched without personal data.
type ExternalID struct {
	System string `json:"system"` // source_system name, e.g. "tes", "lifecare", "nuki"
	ID     string `json:"id"`
}

// Provider is a utförare: an organisation delivering home care for a municipality.
type Provider struct {
	ID            uuid.UUID      `json:"id"`
	TenantID      uuid.UUID      `json:"tenant_id"`
	Name          string         `json:"name"`
	OrgNo         OrgNo          `json:"org_no"`
	Kind          ProviderKind   `json:"provider_kind"`
	IVOPermitRef  string         `json:"ivo_permit_ref,omitempty"` // private hemtjänst needs an IVO permit
	HSAID         HSAID          `json:"hsa_id,omitempty"`
	ValidFrom     Date           `json:"valid_from,omitzero"`
	ValidTo       Date           `json:"valid_to,omitzero"`
	ServiceScopes []ServiceScope `json:"service_scope,omitempty"`
	ExternalIDs   []ExternalID   `json:"external_ids,omitempty"`
}

// ProviderUnit is a team (grupp) within a provider; staff, visits and TES groups hang off it.
type ProviderUnit struct {
	ID         uuid.UUID `json:"id"`
	ProviderID uuid.UUID `json:"provider_id"`
	Name       string    `json:"name"`
	HSAID      HSAID     `json:"hsa_id,omitempty"`
	Area       string    `json:"area,omitempty"`
	TESGroupID string    `json:"tes_group_id,omitempty"`
}

// Status is the life-cycle state shared by clients, staff and tags.
type Status string

// The statuses.
const (
	StatusActive   Status = "active"
	StatusInactive Status = "inactive"
)

// UnmarshalText accepts only the known statuses.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "status", StatusActive, StatusInactive)
	*s = v
	return err
}

// Address is a client's home address, where visits take place.
type Address struct {
	Street      string `json:"street,omitempty"`
	Postcode    string `json:"postcode,omitempty"`
	City        string `json:"city,omitempty"`
	ApartmentNo string `json:"apartment_no,omitempty"` // lägenhetsnummer, e.g. "1102"
}

// Client is a brukare: a person granted home care. The struct holds the person id in clear
// because it lives in memory only; the store keeps it encrypted plus an HMAC lookup hash.
// Log a client through the masking logger only (internal/logging), never with %v elsewhere.
type Client struct {
	ID                uuid.UUID  `json:"id"`
	TenantID          uuid.UUID  `json:"tenant_id"`
	PersonID          PersonID   `json:"person_id"`
	PreviousPersonIDs []PersonID `json:"previous_person_ids,omitempty"` // e.g. samordningsnummer → personnummer
	ProtectedIdentity bool       `json:"protected_identity"`            // skyddad identitet: show and export nothing
	GivenName         string     `json:"given_name,omitempty"`
	FamilyName        string     `json:"family_name,omitempty"`
	Address           Address    `json:"address,omitzero"`
	Phone             string     `json:"phone,omitempty"`
	DeceasedAt        time.Time  `json:"deceased_at,omitzero"`
	Status            Status     `json:"status"`
}

// PersonIDType returns the kind of the client's person id, which §8a stores as its own column.
func (c *Client) PersonIDType() PersonIDType { return c.PersonID.Type() }

// AuthMethod is how a staff member logs in (DOMAIN.md §4.5); it drives the access review.
type AuthMethod string

// The authentication methods.
const (
	AuthSITHSCard   AuthMethod = "siths_card"
	AuthSITHSMobile AuthMethod = "siths_mobile"
	AuthBankID      AuthMethod = "bankid"
	AuthFreja       AuthMethod = "freja"
)

// UnmarshalText accepts only the known methods.
func (a *AuthMethod) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "auth method", AuthSITHSCard, AuthSITHSMobile, AuthBankID, AuthFreja)
	*a = v
	return err
}

// Staff is a person working for a provider. One person may have several HSA-IDs (one per
// directory owner) and none at all when the provider is not in HSA.
type Staff struct {
	ID                   uuid.UUID    `json:"id"`
	TenantID             uuid.UUID    `json:"tenant_id"`
	ProviderID           uuid.UUID    `json:"provider_id"`
	HSAIDs               []HSAID      `json:"hsa_ids,omitempty"`
	PersonID             PersonID     `json:"person_id,omitzero"` // from a BankID/SITHS certificate, when known
	GivenName            string       `json:"given_name,omitempty"`
	FamilyName           string       `json:"family_name,omitempty"`
	PATitleCode          string       `json:"pa_title_code,omitempty"`
	ProfessionalLicences []string     `json:"professional_licences,omitempty"` // hsaTitle values
	EmploymentStart      Date         `json:"employment_start,omitzero"`
	EmploymentEnd        Date         `json:"employment_end,omitzero"`
	UnitIDs              []uuid.UUID  `json:"unit_ids,omitempty"`
	AuthMethods          []AuthMethod `json:"auth_methods,omitempty"`
	ProtectedPerson      bool         `json:"protected_person"`
	ExternalIDs          []ExternalID `json:"external_ids,omitempty"` // TES user id, lock vendor accountUserId
	Status               Status       `json:"status"`
}
