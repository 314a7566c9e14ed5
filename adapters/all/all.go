// Package all registers every built-in adapter in adapters.Default. The
// hub's main imports it; a custom build imports fewer. all_test.go fails
// when an adapter directory is missing here or registers under a name that
// differs from its directory.
package all

import (
	_ "github.com/knutpunkt/knutpunkt/adapters/file"     // file source and sink
	_ "github.com/knutpunkt/knutpunkt/adapters/hsa"      // hsa source (HSA directory staff over RIV-TA)
	_ "github.com/knutpunkt/knutpunkt/adapters/http"     // http source and sink
	_ "github.com/knutpunkt/knutpunkt/adapters/ldap"     // ldap source (directory snapshots of staff)
	_ "github.com/knutpunkt/knutpunkt/adapters/lifecare" // lifecare source and sink (case system orders and receipts)
	_ "github.com/knutpunkt/knutpunkt/adapters/memory"   // memory source and sink (tests, demo)
	_ "github.com/knutpunkt/knutpunkt/adapters/nuki"     // nuki source and sink (keyless locks over the Nuki Web API)
	_ "github.com/knutpunkt/knutpunkt/adapters/provider" // provider sink (orders to providers) and source (their acknowledgements)
	_ "github.com/knutpunkt/knutpunkt/adapters/sftp"     // sftp source and sink
	_ "github.com/knutpunkt/knutpunkt/adapters/tes"      // tes sources (visits pushed per sync, the nightly export)
)
