package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "knut",
		Short: "Knutpunkt: the integration hub for Swedish municipal home care",
		Long: `Knutpunkt connects case systems, TES visit registration, keyless locks,
SITHS/HSA directories and provider systems through declarative pipelines,
with its own store, message log and nightly reconciliation.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServeCmd(),
		newValidateCmd(),
		newTestCmd(),
		newAdaptersCmd(),
		newImportCmd(),
		newTryCmd(),
		newReplayCmd(),
		newDeadCmd(),
		newMessagesCmd(),
		newAuditCmd(),
		newOrdersCmd(),
		newVisitsCmd(),
		newTagsCmd(),
		newKeysCmd(),
		newStaffCmd(),
		newReportCmd(),
		newReconcileCmd(),
		newDemoCmd(),
		newVersionCmd(),
	)
	return root
}
