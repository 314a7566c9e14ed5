package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/knutpunkt/knutpunkt/internal/reconcile"
)

// The nightly reconciliation of executed hours (issue 13). Its rule set comes first: a
// municipality's controller checks a rule set file before the hub pays by it.

func newReconcileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "reconcile",
		Short: "Reconciliation of executed hours: check a municipality's rule set (docs/reconciliation.md)",
	}
	cmd.AddCommand(newReconcileRulesCmd())
	return cmd
}

func newReconcileRulesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rules FILE",
		Short: "Check a rule set file strictly (every problem with its file and line) and print what it says and its hash",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rs, err := reconcile.LoadRuleSet(args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s, version %d, from %s\nhash %s\n", rs.Name, rs.Version, rs.ValidFrom, rs.Hash())
			var rates []string
			for _, c := range slices.Sorted(maps.Keys(rs.Rates)) {
				rates = append(rates, fmt.Sprintf("%s %.2f kr/h", c, rs.Rates[c]))
			}
			fmt.Fprintf(out, "rates: %s; %d insatser\n", strings.Join(rates, ", "), len(rs.Insatser))
			return nil
		},
	}
}
