package homecare

import "github.com/google/uuid"

// InsatsCategory groups a municipality's local insats codes into the categories that
// reconciliation rules and national statistics use.
type InsatsCategory string

// The insats categories (DOMAIN.md §6.1).
const (
	CategoryService         InsatsCategory = "service"
	CategoryOmvardnad       InsatsCategory = "omvardnad"
	CategoryTrygghetslarm   InsatsCategory = "trygghetslarm"
	CategoryMatdistribution InsatsCategory = "matdistribution"
	CategoryLedsagning      InsatsCategory = "ledsagning"
	CategoryAvlosning       InsatsCategory = "avlosning"
	CategoryBoendestod      InsatsCategory = "boendestod"
	CategoryHSL             InsatsCategory = "hsl"
	CategoryOther           InsatsCategory = "other"
)

// UnmarshalText accepts only the known categories.
func (c *InsatsCategory) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "insats category", CategoryService, CategoryOmvardnad, CategoryTrygghetslarm,
		CategoryMatdistribution, CategoryLedsagning, CategoryAvlosning, CategoryBoendestod, CategoryHSL, CategoryOther)
	*c = v
	return err
}

// Law is the act a decision or insats is granted under; it decides which log and retention
// rules apply (DOMAIN.md §7).
type Law string

// The laws.
const (
	LawSoL Law = "SoL"
	LawLSS Law = "LSS"
	LawHSL Law = "HSL"
)

// UnmarshalText accepts only the known laws.
func (l *Law) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "law", LawSoL, LawLSS, LawHSL)
	*l = v
	return err
}

// PaymentMode is how a municipality pays a provider for an insats (DOMAIN.md §6.3).
type PaymentMode string

// The payment modes.
const (
	PayPerMinute PaymentMode = "per_minute"
	PaySchablon  PaymentMode = "schablon" // fixed minutes per performed insats
	PayPerUnit   PaymentMode = "per_unit"
	PayFixed     PaymentMode = "fixed"
)

// UnmarshalText accepts only the known modes.
func (p *PaymentMode) UnmarshalText(b []byte) error {
	v, err := parseEnum(b, "payment mode", PayPerMinute, PaySchablon, PayPerUnit, PayFixed)
	*p = v
	return err
}

// InsatsType is one entry of a municipality's insats catalogue, e.g. code "DUSCH". Visits and
// orders refer to it by Code; reconciliation reads its payment fields.
type InsatsType struct {
	ID              uuid.UUID      `json:"id"`
	TenantID        uuid.UUID      `json:"tenant_id"`
	Code            string         `json:"code"`
	Name            string         `json:"name"`
	Category        InsatsCategory `json:"category"`
	Law             Law            `json:"law"`
	KSICode         string         `json:"ksi_code,omitempty"`
	StatisticsCode  string         `json:"statistics_code,omitempty"`
	PaymentMode     PaymentMode    `json:"payment_mode"`
	SchablonMinutes int            `json:"schablon_minutes,omitempty"`
	UnitPriceOre    int64          `json:"unit_price_ore,omitempty"` // öre, to keep money exact
	DeclinedPct     int            `json:"declined_pct,omitempty"`   // share of a declined insats that is paid, 0-100
	ValidFrom       Date           `json:"valid_from,omitzero"`
	ValidTo         Date           `json:"valid_to,omitzero"`
}
