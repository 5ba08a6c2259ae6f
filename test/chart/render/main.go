// chart-render: renders a Helm chart the way `helm template` does, for tests on machines
// where Helm itself cannot be installed. It uses the two libraries Helm renders with
// (text/template + Masterminds/sprig v3, and sigs.k8s.io/yaml for toYaml and values) and
// re-implements, from Helm's pkg/engine and pkg/releaseutil, what a chart sees:
//
//   - missingkey=zero, "<no value>" removed from the output
//   - sprig's TxtFuncMap without env/expandenv, plus include, tpl, required, toYaml,
//     fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, lookup (always empty:
//     there is no cluster)
//   - .Values (values.yaml, then -f files, then --set, coalesced as Helm does: null
//     removes a default), .Release, .Chart, .Capabilities, .Files, .Template
//   - partials (_*.tpl) defined but not output, NOTES.txt rendered but not output
//   - the output stream: every document of every template, sorted by kind in Helm's
//     install order, each headed "# Source: <chart>/templates/<file>"
//   - errors worded like Helm's ("execution error at (file:line:col): message")
//
// Not supported, and refused rather than ignored: subcharts (dependencies), .helmignore,
// values.schema.json, toToml. Usage:
//
//   chart-render [--name N] [--namespace NS] [--kube-version v1.30.0]
//                [--api-versions group/version]... [-f values.yaml]...
//                [--set a.b=c,d=e]... [--set-string a=b]... [--notes] CHART_DIR
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/semver/v3"
	"github.com/Masterminds/sprig/v3"
	"sigs.k8s.io/yaml"
)

// ---- command line -------------------------------------------------------------------

type options struct {
	name, namespace, kubeVersion string
	apiVersions                  []string
	valueFiles                   []string
	sets                         []setFlag
	notes                        bool
	chartDir                     string
}

type setFlag struct {
	expr     string
	asString bool
}

func parseArgs(args []string) (options, error) {
	o := options{name: "release-name", namespace: "default", kubeVersion: "v1.30.0"}
	value := func(i *int, flag string) (string, error) {
		if *i+1 >= len(args) {
			return "", fmt.Errorf("flag %s needs a value", flag)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		flag, inline, hasInline := strings.Cut(arg, "=")
		if !strings.HasPrefix(arg, "-") {
			if o.chartDir != "" {
				return o, fmt.Errorf("only one chart directory, got %q and %q", o.chartDir, arg)
			}
			o.chartDir = arg
			continue
		}
		get := func() (string, error) {
			if hasInline {
				return inline, nil
			}
			return value(&i, flag)
		}
		var v string
		var err error
		switch flag {
		case "--notes":
			o.notes = true
			continue
		case "--name", "--namespace", "-n", "--kube-version", "--api-versions", "-a", "-f", "--values", "--set", "--set-string":
			if v, err = get(); err != nil {
				return o, err
			}
		default:
			return o, fmt.Errorf("unknown flag %s", arg)
		}
		switch flag {
		case "--name":
			o.name = v
		case "--namespace", "-n":
			o.namespace = v
		case "--kube-version":
			o.kubeVersion = v
		case "--api-versions", "-a":
			o.apiVersions = append(o.apiVersions, v)
		case "-f", "--values":
			o.valueFiles = append(o.valueFiles, v)
		case "--set":
			o.sets = append(o.sets, setFlag{expr: v})
		case "--set-string":
			o.sets = append(o.sets, setFlag{expr: v, asString: true})
		}
	}
	if o.chartDir == "" {
		return o, errors.New("usage: chart-render [flags] CHART_DIR")
	}
	return o, nil
}

// ---- the chart ------------------------------------------------------------------------

// Metadata is Chart.yaml with Helm's field names (what .Chart.* resolves to).
type Metadata struct {
	Name         string            `json:"name,omitempty"`
	Home         string            `json:"home,omitempty"`
	Sources      []string          `json:"sources,omitempty"`
	Version      string            `json:"version,omitempty"`
	Description  string            `json:"description,omitempty"`
	Keywords     []string          `json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `json:"maintainers,omitempty"`
	Icon         string            `json:"icon,omitempty"`
	APIVersion   string            `json:"apiVersion,omitempty"`
	Condition    string            `json:"condition,omitempty"`
	Tags         string            `json:"tags,omitempty"`
	AppVersion   string            `json:"appVersion,omitempty"`
	Deprecated   bool              `json:"deprecated,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	KubeVersion  string            `json:"kubeVersion,omitempty"`
	Dependencies []interface{}     `json:"dependencies,omitempty"`
	Type         string            `json:"type,omitempty"`
}

type Maintainer struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	URL   string `json:"url,omitempty"`
}

type chart struct {
	meta      *Metadata
	values    map[string]interface{}
	templates map[string]string // "templates/x.yaml" -> source
	files     Files             // every other file, by path relative to the chart
}

func loadChart(dir string) (*chart, error) {
	c := &chart{templates: map[string]string{}, files: Files{}}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	c.meta = &Metadata{}
	if err := yaml.UnmarshalStrict(raw, c.meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	switch {
	case c.meta.APIVersion != "v2":
		return nil, fmt.Errorf("Chart.yaml: apiVersion must be v2, got %q", c.meta.APIVersion)
	case c.meta.Name == "":
		return nil, errors.New("Chart.yaml: name is required")
	case c.meta.Version == "":
		return nil, errors.New("Chart.yaml: version is required")
	case len(c.meta.Dependencies) > 0:
		return nil, errors.New("Chart.yaml: dependencies (subcharts) are not supported by this renderer")
	case c.meta.Type != "" && c.meta.Type != "application":
		return nil, fmt.Errorf("Chart.yaml: type %q is not supported by this renderer", c.meta.Type)
	}
	if _, err := semver.StrictNewVersion(c.meta.Version); err != nil {
		return nil, fmt.Errorf("Chart.yaml: version %q is not SemVer 2: %w", c.meta.Version, err)
	}
	c.values = map[string]interface{}{}
	if raw, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if err := yaml.Unmarshal(raw, &c.values); err != nil {
			return nil, fmt.Errorf("values.yaml: %w", err)
		}
		if c.values == nil {
			c.values = map[string]interface{}{}
		}
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	err = filepath.WalkDir(dir, func(file string, entry os.DirEntry, err error) error {
		if err != nil || entry.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, file)
		rel = filepath.ToSlash(rel)
		switch {
		case rel == "Chart.yaml" || rel == "values.yaml":
			return nil
		case rel == ".helmignore" || rel == "values.schema.json" || strings.HasPrefix(rel, "charts/") ||
			rel == "Chart.lock" || strings.HasPrefix(rel, "requirements."):
			return fmt.Errorf("%s is not supported by this renderer", rel)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if strings.HasPrefix(rel, "templates/") {
			c.templates[rel] = string(data)
		} else {
			c.files[rel] = data
		}
		return nil
	})
	return c, err
}

// ---- values: -f, --set, and coalescing with the chart's defaults ------------------------

// mergeMaps lays b over a (both user-supplied), recursing into maps: Helm's MergeValues.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if om, ok := out[k].(map[string]interface{}); ok {
				out[k] = mergeMaps(om, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// coalesce fills user values with the chart's defaults. A user null deletes the default.
func coalesce(user, defaults map[string]interface{}) map[string]interface{} {
	for k, dv := range defaults {
		uv, present := user[k]
		switch {
		case !present:
			user[k] = deepCopy(dv)
		case uv == nil:
			delete(user, k)
		default:
			um, uok := uv.(map[string]interface{})
			dm, dok := dv.(map[string]interface{})
			if uok && dok {
				coalesce(um, dm)
			} else if uok != dok && dv != nil {
				fmt.Fprintf(os.Stderr, "coalesce.go: warning: cannot overwrite table with non table for %s (%v)\n", k, dv)
			}
		}
	}
	return user
}

func deepCopy(v interface{}) interface{} {
	switch t := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(t))
		for k, e := range t {
			out[k] = deepCopy(e)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(t))
		for i, e := range t {
			out[i] = deepCopy(e)
		}
		return out
	}
	return v
}

// typedValue types a --set value as Helm's strvals does.
func typedValue(v string, asString bool) interface{} {
	switch {
	case asString:
		return v
	case strings.EqualFold(v, "true"):
		return true
	case strings.EqualFold(v, "false"):
		return false
	case strings.EqualFold(v, "null"):
		return nil
	case v == "0":
		return int64(0)
	}
	if v != "" && v[0] != '0' {
		if i, err := strconv.ParseInt(v, 10, 64); err == nil {
			return i
		}
	}
	return v
}

// splitUnescaped splits on sep outside {...}, honouring backslash escapes (kept for later).
func splitUnescaped(s string, sep rune) []string {
	var parts []string
	var cur strings.Builder
	depth := 0
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune('\\')
			cur.WriteRune(r)
			escaped = false
			continue
		case r == '\\':
			escaped = true
			continue
		case r == '{':
			depth++
		case r == '}':
			depth--
		case r == sep && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteRune(r)
	}
	return append(parts, cur.String())
}

func unescape(s string) string {
	var b strings.Builder
	escaped := false
	for _, r := range s {
		if !escaped && r == '\\' {
			escaped = true
			continue
		}
		escaped = false
		b.WriteRune(r)
	}
	return b.String()
}

// parseSet applies one --set expression ("a.b=c,d={x,y}") to dst. List indexes
// (a[0]=x) are not supported and are refused.
func parseSet(dst map[string]interface{}, expr string, asString bool) error {
	for _, pair := range splitUnescaped(expr, ',') {
		if pair == "" {
			continue
		}
		key, val, ok := strings.Cut(pair, "=")
		if !ok {
			return fmt.Errorf("--set %q: key %q has no value", expr, pair)
		}
		if strings.ContainsAny(key, "[]") {
			return fmt.Errorf("--set %q: list indexes are not supported by this renderer", expr)
		}
		var value interface{}
		if !asString && strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}") {
			list := []interface{}{}
			if inner := val[1 : len(val)-1]; inner != "" {
				for _, item := range splitUnescaped(inner, ',') {
					list = append(list, typedValue(unescape(item), false))
				}
			}
			value = list
		} else {
			value = typedValue(unescape(val), asString)
		}
		keys := splitUnescaped(key, '.')
		node := dst
		for i, k := range keys {
			k = unescape(k)
			if i == len(keys)-1 {
				node[k] = value
				break
			}
			next, ok := node[k].(map[string]interface{})
			if !ok {
				next = map[string]interface{}{}
				node[k] = next
			}
			node = next
		}
	}
	return nil
}

func userValues(o options) (map[string]interface{}, error) {
	user := map[string]interface{}{}
	for _, file := range o.valueFiles {
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		current := map[string]interface{}{}
		if err := yaml.Unmarshal(raw, &current); err != nil {
			return nil, fmt.Errorf("failed to parse %s: %w", file, err)
		}
		user = mergeMaps(user, current)
	}
	for _, s := range o.sets {
		if err := parseSet(user, s.expr, s.asString); err != nil {
			return nil, err
		}
	}
	return user, nil
}

// ---- built-in objects -------------------------------------------------------------------

// Files is .Files: the chart's non-template files, by path.
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte {
	if v, ok := f[name]; ok {
		return v
	}
	fmt.Fprintf(os.Stderr, "WARNING: %s not included\n", name)
	return nil
}

func (f Files) Get(name string) string { return string(f.GetBytes(name)) }

// Glob matches like gobwas/glob with '/' as separator: * and ? stay within a path
// segment, ** crosses them, [...] and {a,b} as usual.
func (f Files) Glob(pattern string) Files {
	re, err := globRegexp(pattern)
	if err != nil {
		re = regexp.MustCompile(`^.*$`)
	}
	out := Files{}
	for name, data := range f {
		if re.MatchString(name) {
			out[name] = data
		}
	}
	return out
}

func (f Files) AsConfig() (string, error) {
	if len(f) == 0 {
		return "", errors.New("must pass files")
	}
	m := map[string]string{}
	for name, data := range f {
		m[path.Base(name)] = string(data)
	}
	return toYAML(m), nil
}

func (f Files) Lines(name string) ([]string, error) {
	if f[name] == nil {
		return nil, errors.New("must pass files")
	}
	return strings.Split(string(f[name]), "\n"), nil
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	inClass, braces := false, 0
	for i := 0; i < len(pattern); i++ {
		ch := pattern[i]
		switch {
		case inClass:
			if ch == ']' {
				inClass = false
			}
			if ch == '!' && pattern[i-1] == '[' {
				ch = '^'
			}
			b.WriteByte(ch)
		case ch == '*' && i+1 < len(pattern) && pattern[i+1] == '*':
			b.WriteString(".*")
			i++
		case ch == '*':
			b.WriteString("[^/]*")
		case ch == '?':
			b.WriteString("[^/]")
		case ch == '[':
			inClass = true
			b.WriteByte(ch)
		case ch == '{':
			braces++
			b.WriteString("(?:")
		case ch == '}' && braces > 0:
			braces--
			b.WriteString(")")
		case ch == ',' && braces > 0:
			b.WriteString("|")
		case ch == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(string(pattern[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// KubeVersion and Capabilities are .Capabilities.
type KubeVersion struct {
	Version, Major, Minor string
}

func (k KubeVersion) String() string     { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion map[string]string
}

// The built-in API group versions of a current Kubernetes; CRDs' only with --api-versions.
var builtinAPIVersions = []string{
	"v1", "admissionregistration.k8s.io/v1", "apiextensions.k8s.io/v1", "apiregistration.k8s.io/v1",
	"apps/v1", "authentication.k8s.io/v1", "authorization.k8s.io/v1", "autoscaling/v1", "autoscaling/v2",
	"batch/v1", "certificates.k8s.io/v1", "coordination.k8s.io/v1", "discovery.k8s.io/v1",
	"events.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1", "networking.k8s.io/v1", "node.k8s.io/v1",
	"policy/v1", "rbac.authorization.k8s.io/v1", "scheduling.k8s.io/v1", "storage.k8s.io/v1",
}

func capabilities(o options) (*Capabilities, error) {
	v, err := semver.NewVersion(o.kubeVersion)
	if err != nil {
		return nil, fmt.Errorf("--kube-version %q: %w", o.kubeVersion, err)
	}
	return &Capabilities{
		KubeVersion: KubeVersion{Version: "v" + v.String(), Major: strconv.FormatUint(v.Major(), 10), Minor: strconv.FormatUint(v.Minor(), 10)},
		APIVersions: append(append(VersionSet{}, builtinAPIVersions...), o.apiVersions...),
		HelmVersion: map[string]string{"Version": "v3.14.0", "GitCommit": "", "GitTreeState": "", "GoVersion": ""},
	}, nil
}

// ---- template functions ----------------------------------------------------------------

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return "" // Helm swallows marshal errors inside templates
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

const warnStart, warnEnd = "HELM_ERR_START", "HELM_ERR_END"

var warnPattern = regexp.MustCompile(warnStart + `(.*)` + warnEnd)

const maxIncludeDepth = 1000

// engine holds one parsed template set and the functions bound to it.
type engine struct {
	t *template.Template
}

func newEngine(sources map[string]string) (*engine, error) {
	e := &engine{t: template.New("gotpl").Option("missingkey=zero")}
	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	depth := map[string]int{}
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"lookup": func(apiVersion, kind, namespace, name string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"include": func(name string, data interface{}) (string, error) {
			if depth[name] > maxIncludeDepth {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			depth[name]++
			defer func() { depth[name]-- }()
			var buf strings.Builder
			err := e.t.ExecuteTemplate(&buf, name, data)
			return buf.String(), err
		},
		"tpl": func(text string, vals map[string]interface{}) (string, error) {
			name := "tpl"
			if tm, ok := vals["Template"].(map[string]interface{}); ok {
				if n, ok := tm["Name"].(string); ok {
					name = n
				}
			}
			clone, err := e.t.Clone()
			if err != nil {
				return "", err
			}
			if _, err := clone.New(name).Parse(text); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			var buf strings.Builder
			if err := clone.ExecuteTemplate(&buf, name, vals); err != nil {
				return "", fmt.Errorf("error during tpl function execution for %q: %w", text, err)
			}
			return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warnStart + warn + warnEnd)
			}
			return val, nil
		},
	}
	for k, v := range extra {
		funcs[k] = v
	}
	e.t.Funcs(funcs)
	for _, name := range parseOrder(sources) {
		if _, err := e.t.New(name).Parse(sources[name]); err != nil {
			return nil, parseError(name, err)
		}
	}
	return e, nil
}

// parseOrder is Helm's: deeper paths first, then reverse-lexical (later defines win).
func parseOrder(sources map[string]string) []string {
	names := make([]string, 0, len(sources))
	for n := range sources {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca != cb {
			return ca > cb
		}
		return a > b
	})
	return names
}

func parseError(name string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", name, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func execError(name string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", name, err)
	}
	if parts := warnPattern.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}

// ---- manifests ---------------------------------------------------------------------------

var installOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
	"ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
	"CronJob", "IngressClass", "Ingress", "APIService",
}

var docSeparator = regexp.MustCompile(`(?:^|\s*\n)---\s*`)

type manifest struct {
	source, content, kind string
}

type head struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind,omitempty"`
	Metadata   *struct {
		Name        string            `json:"name"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata,omitempty"`
}

func sortManifests(rendered map[string]string) ([]manifest, error) {
	files := make([]string, 0, len(rendered))
	for f := range rendered {
		files = append(files, f)
	}
	sort.Strings(files)
	var out []manifest
	for _, file := range files {
		if strings.TrimSpace(rendered[file]) == "" {
			continue
		}
		for _, doc := range docSeparator.Split(rendered[file], -1) {
			if strings.TrimSpace(doc) == "" {
				continue
			}
			var h head
			if err := yaml.Unmarshal([]byte(doc), &h); err != nil {
				return nil, fmt.Errorf("YAML parse error on %s: %w", file, err)
			}
			if h.Metadata != nil {
				if _, hook := h.Metadata.Annotations["helm.sh/hook"]; hook {
					return nil, fmt.Errorf("%s: hooks are not supported by this renderer", file)
				}
			}
			out = append(out, manifest{source: file, content: strings.TrimRight(doc, " \t\n"), kind: h.Kind})
		}
	}
	rank := map[string]int{}
	for i, k := range installOrder {
		rank[k] = i
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		ra, aok := rank[a.kind]
		rb, bok := rank[b.kind]
		switch {
		case aok && bok && ra != rb:
			return ra < rb
		case aok != bok:
			return aok
		case !aok && a.kind != b.kind:
			return a.kind < b.kind
		}
		return a.source < b.source
	})
	return out, nil
}

// ---- render ------------------------------------------------------------------------------

func render(o options, w io.Writer) error {
	c, err := loadChart(o.chartDir)
	if err != nil {
		return err
	}
	caps, err := capabilities(o)
	if err != nil {
		return err
	}
	if c.meta.KubeVersion != "" {
		constraint, err := semver.NewConstraint(c.meta.KubeVersion)
		if err != nil {
			return fmt.Errorf("Chart.yaml: kubeVersion %q: %w", c.meta.KubeVersion, err)
		}
		if v, _ := semver.NewVersion(caps.KubeVersion.Version); !constraint.Check(v) {
			return fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.meta.KubeVersion, caps.KubeVersion.Version)
		}
	}
	user, err := userValues(o)
	if err != nil {
		return err
	}
	values := coalesce(user, c.values)

	sources := map[string]string{}
	for name, src := range c.templates {
		sources[path.Join(c.meta.Name, name)] = src
	}
	e, err := newEngine(sources)
	if err != nil {
		return err
	}
	release := map[string]interface{}{
		"Name": o.name, "Namespace": o.namespace, "IsUpgrade": false, "IsInstall": true, "Revision": 1, "Service": "Helm",
	}
	basePath := path.Join(c.meta.Name, "templates")
	rendered := map[string]string{}
	notes := ""
	for _, name := range parseOrder(sources) {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top := map[string]interface{}{
			"Values": values, "Release": release, "Chart": c.meta, "Capabilities": caps, "Files": c.files,
			"Template": map[string]interface{}{"Name": name, "BasePath": basePath},
		}
		var buf strings.Builder
		if err := e.t.ExecuteTemplate(&buf, name, top); err != nil {
			return execError(name, err)
		}
		out := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(name, "/NOTES.txt") {
			notes = out
			continue
		}
		rendered[name] = out
	}
	manifests, err := sortManifests(rendered)
	if err != nil {
		return err
	}
	for _, m := range manifests {
		fmt.Fprintf(w, "---\n# Source: %s\n%s\n", m.source, m.content)
	}
	if o.notes && strings.TrimSpace(notes) != "" {
		fmt.Fprintf(w, "\nNOTES:\n%s\n", notes)
	}
	return nil
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err == nil {
		err = render(o, os.Stdout)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "Error: %s\n", err)
		os.Exit(1)
	}
}
