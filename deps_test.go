package knutpunkt_test

import (
	"bufio"
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The dependency rules of ARCHITECTURE.md §3, checked over `go list` so
// that they hold by themselves rather than by review. Only production
// imports count: a test may use the memory adapter or a simulator.
const module = "github.com/knutpunkt/knutpunkt"

type pkgInfo struct {
	imports []string // the module's packages (without the module prefix) and Watermill
	cgo     bool
}

func listPackages(t *testing.T) map[string]pkgInfo {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{len .CgoFiles}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		var info pkgInfo
		for _, imp := range strings.Fields(f[1]) {
			switch {
			case imp == module:
				info.imports = append(info.imports, ".")
			case strings.HasPrefix(imp, module+"/"):
				info.imports = append(info.imports, strings.TrimPrefix(imp, module+"/"))
			case strings.HasPrefix(imp, "github.com/ThreeDotsLabs/watermill"):
				info.imports = append(info.imports, imp)
			}
		}
		info.cgo = f[2] != "0"
		pkgs[rel(f[0])] = info
	}
	return pkgs
}

func rel(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

func under(pkg, dir string) bool { return pkg == dir || strings.HasPrefix(pkg, dir+"/") }

// isVendor reports whether pkg is an adapter package, not the contract.
func isVendor(pkg string) bool { return under(pkg, "adapters") && pkg != "adapters" }

// composition roots wire vendors in: the binary, the server, the demo (which
// runs the simulators beside the hub).
var roots = []string{"cmd/knut", "internal/server", "internal/demo"}

func TestDependencyRules(t *testing.T) {
	rules := []struct {
		name string
		// broken returns why pkg may not import imp, or "".
		broken func(pkg, imp string) string
	}{
		{"the root package imports nothing of the module", func(pkg, imp string) string {
			if pkg == "." && !strings.Contains(imp, "watermill") {
				return "knutpunkt is the bottom layer"
			}
			return ""
		}},
		{"the adapter contract imports only the root", func(pkg, imp string) string {
			if pkg == "adapters" && imp != "." {
				return "adapters is the contract every vendor builds on"
			}
			return ""
		}},
		{"adapters use the engine only through internal/schema, internal/jsonscan, internal/records and internal/homecare", func(pkg, imp string) string {
			if isVendor(pkg) && under(imp, "internal") && imp != "internal/schema" && imp != "internal/jsonscan" && imp != "internal/records" && imp != "internal/homecare" {
				return "an adapter may read XML through internal/schema, check JSON with internal/jsonscan, split export files with internal/records and use internal/homecare's identifiers, nothing else of the engine"
			}
			return ""
		}},
		{"the engine and the store never import a vendor", func(pkg, imp string) string {
			if under(pkg, "internal") && !slices.Contains(roots, pkg) && isVendor(imp) {
				return "vendor code lives under adapters/ and is wired in by the composition root"
			}
			return ""
		}},
		{"only internal/router imports Watermill", func(pkg, imp string) string {
			if strings.HasPrefix(imp, "github.com/ThreeDotsLabs/watermill") && pkg != "internal/router" {
				return "Watermill is the router's business"
			}
			return ""
		}},
		{"the domain imports nothing of the module but the root", func(pkg, imp string) string {
			if pkg == "internal/homecare" && imp != "." {
				return "internal/homecare is the domain"
			}
			return ""
		}},
	}
	pkgs := listPackages(t)
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages; the test runs in the wrong place", len(pkgs))
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			for pkg, info := range pkgs {
				for _, imp := range info.imports {
					if why := rule.broken(pkg, imp); why != "" {
						t.Errorf("%s imports %s: %s", pkg, imp, why)
					}
				}
			}
		})
	}
	t.Run("only internal/schema uses cgo", func(t *testing.T) {
		for pkg, info := range pkgs {
			if info.cgo && pkg != "internal/schema" {
				t.Errorf("%s uses cgo: only internal/schema binds C (libxml2)", pkg)
			}
		}
	})
}
