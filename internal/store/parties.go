package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/knutpunkt/knutpunkt/internal/homecare"
)

// nullUUID is NULL for the zero UUID, for optional references.
func nullUUID(id uuid.UUID) any {
	if id == uuid.Nil {
		return nil
	}
	return id.String()
}

// idOrNew returns id as text, or a new UUIDv7 when it is zero.
func idOrNew(id uuid.UUID) string {
	if id == uuid.Nil {
		return newID()
	}
	return id.String()
}

func statusOrActive(s homecare.Status) string {
	if s == "" {
		return string(homecare.StatusActive)
	}
	return string(s)
}

// UpsertMunicipality stores m keyed by its ID (required): municipalities
// come from configuration, not from a source system.
func (t *Tx) UpsertMunicipality(ctx context.Context, m homecare.Municipality) error {
	if m.ID == uuid.Nil {
		return fmt.Errorf("upsert municipality %s: id is required", m.MunicipalityCode)
	}
	at := t.s.tv(now())
	tz := m.Timezone
	if tz == "" {
		tz = "Europe/Stockholm"
	}
	_, err := t.exec(ctx, `INSERT INTO municipalities (id, name, org_no, municipality_code, timezone, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, org_no = excluded.org_no,
		municipality_code = excluded.municipality_code, timezone = excluded.timezone,
		updated_at = excluded.updated_at, version = municipalities.version + 1`,
		m.ID.String(), m.Name, string(m.OrgNo), m.MunicipalityCode, tz, at, at)
	if err != nil {
		return fmt.Errorf("upsert municipality %s: %w", m.ID, err)
	}
	return nil
}

// UpsertClient stores c keyed by its person id: a known person is updated,
// an unknown one inserted. src, when set, records where the client came
// from (and must then be unique). It returns the client's id, which the
// store derives from the person id lookup hash; c.ID is ignored. Stored are
// the tenant, person id (encrypted and hashed), protected identity, names
// and status.
func (t *Tx) UpsertClient(ctx context.Context, src homecare.ExternalID, c homecare.Client) (uuid.UUID, error) {
	hash, id, enc, err := t.s.personKey(c.PersonID.Reveal())
	if err != nil {
		return uuid.Nil, fmt.Errorf("upsert client %s/%s: %w", src.System, src.ID, err)
	}
	at := t.s.tv(now())
	var got string
	err = t.queryRow(ctx, `INSERT INTO clients (id, municipality_id, source_system, external_id, person_id_hash,
		person_id_enc, person_id_type, protected_identity, given_name, family_name, status, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (person_id_hash) DO UPDATE SET municipality_id = excluded.municipality_id,
		source_system = excluded.source_system, external_id = excluded.external_id,
		person_id_type = excluded.person_id_type, protected_identity = excluded.protected_identity,
		given_name = excluded.given_name, family_name = excluded.family_name, status = excluded.status,
		updated_at = excluded.updated_at, version = clients.version + 1
		RETURNING id`,
		[]any{id, nullUUID(c.TenantID), src.System, src.ID, hash, enc, string(c.PersonID.Type()),
			c.ProtectedIdentity, c.GivenName, c.FamilyName, statusOrActive(c.Status), at, at}, &got)
	if err != nil {
		return uuid.Nil, fmt.Errorf("upsert client %s/%s: %w", src.System, src.ID, err)
	}
	t.markClient(got)
	return uuid.Parse(got)
}

// UpsertProvider stores p keyed by src, its id in the system it came from
// (canonical messages refer to providers by src.ID, e.g. Visit.ProviderID).
// A new provider gets p.ID, or a new id when that is zero. Stored are the
// tenant, name, org number, kind and HSA-ID. It returns the provider's id.
func (t *Tx) UpsertProvider(ctx context.Context, src homecare.ExternalID, p homecare.Provider) (uuid.UUID, error) {
	if src.System == "" || src.ID == "" {
		return uuid.Nil, fmt.Errorf("upsert provider %s/%s: source system and external id are required", src.System, src.ID)
	}
	at := t.s.tv(now())
	var got string
	err := t.queryRow(ctx, `INSERT INTO providers (id, municipality_id, source_system, external_id, name, org_no,
		provider_kind, hsa_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_system, external_id) DO UPDATE SET municipality_id = excluded.municipality_id,
		name = excluded.name, org_no = excluded.org_no, provider_kind = excluded.provider_kind,
		hsa_id = excluded.hsa_id, updated_at = excluded.updated_at, version = providers.version + 1
		RETURNING id`,
		[]any{idOrNew(p.ID), nullUUID(p.TenantID), src.System, src.ID, p.Name, string(p.OrgNo), string(p.Kind),
			string(p.HSAID), at, at}, &got)
	if err != nil {
		return uuid.Nil, fmt.Errorf("upsert provider %s/%s: %w", src.System, src.ID, err)
	}
	return uuid.Parse(got)
}

// UpsertStaff stores st keyed by src. A new row gets st.ID, or a new id
// when that is zero. Visits find staff by HSA-ID: the row keeps the first of
// st.HSAIDs. Stored are the provider, HSA-ID, names and status. It returns
// the staff member's id.
func (t *Tx) UpsertStaff(ctx context.Context, src homecare.ExternalID, st homecare.Staff) (uuid.UUID, error) {
	if src.System == "" || src.ID == "" {
		return uuid.Nil, fmt.Errorf("upsert staff %s/%s: source system and external id are required", src.System, src.ID)
	}
	var hsaID string
	if len(st.HSAIDs) > 0 {
		hsaID = string(st.HSAIDs[0])
	}
	at := t.s.tv(now())
	var got string
	err := t.queryRow(ctx, `INSERT INTO staff (id, provider_id, source_system, external_id, hsa_id, given_name,
		family_name, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_system, external_id) DO UPDATE SET provider_id = excluded.provider_id,
		hsa_id = excluded.hsa_id, given_name = excluded.given_name, family_name = excluded.family_name,
		status = excluded.status, updated_at = excluded.updated_at, version = staff.version + 1
		RETURNING id`,
		[]any{idOrNew(st.ID), nullUUID(st.ProviderID), src.System, src.ID, hsaID, st.GivenName,
			st.FamilyName, statusOrActive(st.Status), at, at}, &got)
	if err != nil {
		return uuid.Nil, fmt.Errorf("upsert staff %s/%s: %w", src.System, src.ID, err)
	}
	return uuid.Parse(got)
}

// UpsertMunicipality is Tx.UpsertMunicipality in a transaction of its own.
func (s *Store) UpsertMunicipality(ctx context.Context, m homecare.Municipality) error {
	return s.write(ctx, func(tx *Tx) error { return tx.UpsertMunicipality(ctx, m) })
}

// UpsertClient is Tx.UpsertClient in a transaction of its own.
func (s *Store) UpsertClient(ctx context.Context, src homecare.ExternalID, c homecare.Client) (id uuid.UUID, err error) {
	err = s.write(ctx, func(tx *Tx) error { id, err = tx.UpsertClient(ctx, src, c); return err })
	return id, err
}

// UpsertProvider is Tx.UpsertProvider in a transaction of its own.
func (s *Store) UpsertProvider(ctx context.Context, src homecare.ExternalID, p homecare.Provider) (id uuid.UUID, err error) {
	err = s.write(ctx, func(tx *Tx) error { id, err = tx.UpsertProvider(ctx, src, p); return err })
	return id, err
}

// UpsertStaff is Tx.UpsertStaff in a transaction of its own.
func (s *Store) UpsertStaff(ctx context.Context, src homecare.ExternalID, st homecare.Staff) (id uuid.UUID, err error) {
	err = s.write(ctx, func(tx *Tx) error { id, err = tx.UpsertStaff(ctx, src, st); return err })
	return id, err
}

// ClientByPersonID finds a client by person id through the lookup hash and
// returns it with the person id decrypted; ErrNotFound if there is none.
func (s *Store) ClientByPersonID(ctx context.Context, personID homecare.PersonID) (homecare.Client, error) {
	if s.pid == nil {
		return homecare.Client{}, fmt.Errorf("get client: %w", ErrNoPersonIDKeys)
	}
	if !validPersonDigits(personID.Reveal()) {
		return homecare.Client{}, fmt.Errorf("get client: person id: want 12 digits")
	}
	hash := s.pid.hash(personID.Reveal())
	var r struct {
		ID                string  `db:"id"`
		MunicipalityID    *string `db:"municipality_id"`
		PersonIDHash      []byte  `db:"person_id_hash"`
		PersonIDEnc       []byte  `db:"person_id_enc"`
		ProtectedIdentity bool    `db:"protected_identity"`
		GivenName         string  `db:"given_name"`
		FamilyName        string  `db:"family_name"`
		Status            string  `db:"status"`
	}
	err := s.get(ctx, &r, `SELECT id, municipality_id, person_id_hash, person_id_enc, protected_identity,
		given_name, family_name, status FROM clients WHERE person_id_hash = ?`, hash)
	if err != nil {
		return homecare.Client{}, fmt.Errorf("get client: %w", err)
	}
	digits, err := s.pid.decrypt(r.PersonIDEnc, r.PersonIDHash)
	if err != nil {
		return homecare.Client{}, fmt.Errorf("get client %s: %w", r.ID, err)
	}
	pid, err := homecare.ParsePlausiblePersonID(digits) // checked when it came in
	if err != nil {
		return homecare.Client{}, fmt.Errorf("get client %s: stored %w", r.ID, err)
	}
	c := homecare.Client{PersonID: pid, ProtectedIdentity: r.ProtectedIdentity, GivenName: r.GivenName,
		FamilyName: r.FamilyName, Status: homecare.Status(r.Status)}
	if c.ID, err = uuid.Parse(r.ID); err != nil {
		return homecare.Client{}, fmt.Errorf("get client %s: %w", r.ID, err)
	}
	if r.MunicipalityID != nil {
		if c.TenantID, err = uuid.Parse(*r.MunicipalityID); err != nil {
			return homecare.Client{}, fmt.Errorf("get client %s: %w", r.ID, err)
		}
	}
	return c, nil
}
