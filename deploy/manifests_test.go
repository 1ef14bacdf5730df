package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

// families are the metric families contract.md requires, as exposed.
var families = map[string]string{
	"binlog_sidecar_stream_events_total": "counter", "binlog_sidecar_stream_bytes_total": "counter",
	"binlog_sidecar_stream_rows_total": "counter", "binlog_sidecar_stream_transactions_total": "counter",
	"binlog_sidecar_stream_lag_seconds": "gauge", "binlog_sidecar_stream_connected": "gauge",
	"binlog_sidecar_stream_reconnects_total": "counter", "binlog_sidecar_dump_threads": "gauge",
	"binlog_sidecar_replicas": "gauge", "binlog_sidecar_semisync_clients": "gauge",
	"binlog_sidecar_semisync_waiting_sessions": "gauge", "binlog_sidecar_problem_active": "gauge",
	"binlog_sidecar_health_status": "gauge", "binlog_sidecar_events_published_total": "counter",
	"binlog_sidecar_events_pending": "gauge", "binlog_sidecar_events_dropped_total": "counter",
}

// configVars reads every SIDECAR_* variable and its default from the
// config struct's tags in cmd/sidecar/config.go, the single source of truth.
func configVars(t *testing.T) map[string]string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "cmd", "sidecar", "config.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	structs := map[string]*ast.StructType{}
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if st, ok := ts.Type.(*ast.StructType); ok {
				structs[ts.Name.Name] = st
			}
		}
		return true
	})
	vars := map[string]string{}
	var walk func(st *ast.StructType, prefix string)
	walk = func(st *ast.StructType, prefix string) {
		for _, fld := range st.Fields.List {
			if fld.Tag == nil {
				continue
			}
			raw, _ := strconv.Unquote(fld.Tag.Value)
			tag := reflect.StructTag(raw)
			if p, ok := tag.Lookup("envPrefix"); ok {
				if id, ok := fld.Type.(*ast.Ident); ok && structs[id.Name] != nil {
					walk(structs[id.Name], prefix+p)
				}
				continue
			}
			if name, _, _ := strings.Cut(tag.Get("env"), ","); name != "" && name != "-" {
				vars[prefix+name] = tag.Get("envDefault")
			}
		}
	}
	if structs["Config"] == nil {
		t.Fatal("no Config struct in cmd/sidecar/config.go")
	}
	walk(structs["Config"], "SIDECAR_")
	// Read by hand in config.go (set-but-empty means core NATS only).
	vars["SIDECAR_NATS_STREAM"] = "MYSQL_HEALTH"
	return vars
}

var envLine = regexp.MustCompile(`^(#?)(SIDECAR_[A-Z0-9_]+)=(.*)$`)

// TestEnvExample: env.example lists every variable once, with its default;
// commented lines are the ones whose default is empty or derived.
func TestEnvExample(t *testing.T) {
	vars := configVars(t)
	f, err := os.Open("env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := envLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		commented, name, value := m[1] == "#", m[2], m[3]
		def, known := vars[name]
		switch {
		case !known:
			t.Errorf("env.example: %s is not a variable of cmd/sidecar/config.go", name)
		case seen[name]:
			t.Errorf("env.example: %s listed twice", name)
		case !commented && value != def:
			t.Errorf("env.example: %s=%s, but its default is %q", name, value, def)
		case commented && def != "":
			t.Errorf("env.example: %s is commented out but has the default %q; list it as %s=%s", name, def, name, def)
		}
		seen[name] = true
	}
	for name := range vars {
		if !seen[name] {
			t.Errorf("env.example: %s is missing", name)
		}
	}
}

type k8sContainer struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Env   []struct {
		Name      string         `yaml:"name"`
		Value     string         `yaml:"value"`
		ValueFrom map[string]any `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *k8sProbe `yaml:"livenessProbe"`
	ReadinessProbe *k8sProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		RunAsUser                int64 `yaml:"runAsUser"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sVolume struct {
	Name      string         `yaml:"name"`
	EmptyDir  map[string]any `yaml:"emptyDir"`
	Secret    map[string]any `yaml:"secret"`
	ConfigMap map[string]any `yaml:"configMap"`
}

type k8sDoc struct {
	Kind string            `yaml:"kind"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Template struct {
			Metadata struct {
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec struct {
				InitContainers []k8sContainer `yaml:"initContainers"`
				Containers     []k8sContainer `yaml:"containers"`
				Volumes        []k8sVolume    `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func decodeAll(t *testing.T, path string) []k8sDoc {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []k8sDoc
	for {
		var d k8sDoc
		if err := dec.Decode(&d); errors.Is(err, io.EOF) {
			return docs
		} else if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

func TestKubernetes(t *testing.T) {
	docs := decodeAll(t, filepath.Join("kubernetes", "sidecar.yaml"))
	var cm, sts *k8sDoc
	for i := range docs {
		switch docs[i].Kind {
		case "ConfigMap":
			cm = &docs[i]
		case "StatefulSet":
			sts = &docs[i]
		}
	}
	if cm == nil || sts == nil {
		t.Fatalf("want a ConfigMap and a StatefulSet, got %d documents", len(docs))
	}
	pod := sts.Spec.Template.Spec
	volumes := map[string]k8sVolume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var sc *k8sContainer
	for i := range pod.Containers {
		if pod.Containers[i].Name == "sidecar" {
			sc = &pod.Containers[i]
		}
	}
	if sc == nil || len(pod.Containers) != 2 {
		t.Fatalf("want MySQL and the sidecar in one pod, got %d containers", len(pod.Containers))
	}

	port := func(p any) int {
		if n, ok := p.(int); ok {
			return n
		}
		for _, cp := range sc.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
		return 0
	}
	for _, pr := range []struct {
		probe *k8sProbe
		path  string
	}{{sc.LivenessProbe, "/livez"}, {sc.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil || pr.probe.HTTPGet.Path != pr.path || port(pr.probe.HTTPGet.Port) != 9106 {
			t.Errorf("want an HTTP probe of %s on 9106, got %+v", pr.path, pr.probe)
		}
	}
	if r := sc.Resources; r.Requests["cpu"] != "50m" || r.Requests["memory"] != "64Mi" || r.Limits["memory"] != "256Mi" {
		t.Errorf("resources: got %+v, want requests 50m/64Mi, limit 256Mi", r)
	}
	s := sc.SecurityContext
	if s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.RunAsUser != 65532 || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
		s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
		t.Errorf("securityContext: want non-root 65532, read-only root fs, no privilege escalation; got %+v", s)
	}

	mountOf := func(path string) (k8sVolume, bool) {
		for _, m := range sc.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
				return volumes[m.Name], true
			}
		}
		return k8sVolume{}, false
	}
	vars := configVars(t)
	env := map[string]string{}
	for _, e := range sc.Env {
		if _, ok := vars[e.Name]; !ok {
			t.Errorf("env %s is not a sidecar variable", e.Name)
		}
		env[e.Name] = e.Value
	}
	if _, ok := env["SIDECAR_MYSQL_PASSWORD"]; ok {
		t.Errorf("the password must come from a Secret file, not SIDECAR_MYSQL_PASSWORD")
	}
	if v, ok := mountOf(env["SIDECAR_MYSQL_PASSWORD_FILE"]); !ok || v.Secret == nil {
		t.Errorf("SIDECAR_MYSQL_PASSWORD_FILE=%q is not in a mounted Secret", env["SIDECAR_MYSQL_PASSWORD_FILE"])
	}
	if v, ok := mountOf(env["SIDECAR_DATA_DIR"]); !ok || v.EmptyDir == nil {
		t.Errorf("SIDECAR_DATA_DIR=%q is not an emptyDir (the root fs is read-only)", env["SIDECAR_DATA_DIR"])
	}
	if v, ok := mountOf(env["SIDECAR_EXPECTED_REPLICAS_FILE"]); !ok || v.ConfigMap == nil {
		t.Errorf("SIDECAR_EXPECTED_REPLICAS_FILE=%q is not in a mounted ConfigMap", env["SIDECAR_EXPECTED_REPLICAS_FILE"])
	}

	// The init container validates the same my.cnf MySQL reads, and that
	// my.cnf passes the validator.
	if len(pod.InitContainers) != 1 || len(pod.InitContainers[0].Args) < 2 || pod.InitContainers[0].Args[0] != "validate" {
		t.Errorf("want an init container running `sidecar validate`, got %+v", pod.InitContainers)
	}
	checkMyCnf(t, "replication.cnf (ConfigMap)", cm.Data["replication.cnf"])

	// The Datadog annotation collects what the host check collects.
	var ad map[string]struct {
		Instances []struct {
			Metrics []map[string]string `json:"metrics"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(sts.Spec.Template.Metadata.Annotations["ad.datadoghq.com/sidecar.checks"]), &ad); err != nil {
		t.Fatalf("Datadog annotation: %v", err)
	}
	if got, want := ad["openmetrics"].Instances[0].Metrics, datadogMetrics(t); !reflect.DeepEqual(mergeMaps(got), want) {
		t.Errorf("Datadog annotation metrics %v differ from conf.yaml %v", mergeMaps(got), want)
	}
}

// checkMyCnf runs the validator on an option file the kit ships.
func checkMyCnf(t *testing.T, name, content string) {
	t.Helper()
	f, err := mycnf.Parse(name, []byte(content), nil)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, fd := range validate.Check(validate.Input{Servers: []validate.Server{{Name: name, File: f}}}) {
		if fd.Severity == validate.SeverityError {
			t.Errorf("%s does not pass sidecar validate: %s", name, fd)
		}
	}
}

func mergeMaps(ms []map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// datadogMetrics is conf.yaml's mapping from exposed family (without
// _total, as the Agent wants it) to Datadog name.
func datadogMetrics(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("datadog", "conf.d", "openmetrics.d", "conf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Instances []struct {
			Endpoint  string              `yaml:"openmetrics_endpoint"`
			Namespace string              `yaml:"namespace"`
			Metrics   []map[string]string `yaml:"metrics"`
		} `yaml:"instances"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatalf("conf.yaml: %v", err)
	}
	if len(conf.Instances) != 1 || !strings.HasSuffix(conf.Instances[0].Endpoint, ":9106/metrics") || conf.Instances[0].Namespace != "binlog_sidecar" {
		t.Fatalf("conf.yaml: want one instance scraping :9106/metrics into namespace binlog_sidecar, got %+v", conf.Instances)
	}
	return mergeMaps(conf.Instances[0].Metrics)
}

// TestDatadog: the check collects every contract family, and every monitor
// queries a metric the check produces.
func TestDatadog(t *testing.T) {
	mapping := datadogMetrics(t)
	produced := map[string]bool{"binlog_sidecar.openmetrics.health": true} // the check's service check
	for fam, typ := range families {
		raw := strings.TrimSuffix(fam, "_total")
		dd, ok := mapping[raw]
		if !ok {
			t.Errorf("conf.yaml does not collect %s (list it as %s)", fam, raw)
			continue
		}
		if typ == "counter" {
			dd += ".count"
		}
		produced["binlog_sidecar."+dd] = true
	}
	for raw := range mapping {
		if _, ok := families[raw]; !ok && families[raw+"_total"] == "" {
			t.Errorf("conf.yaml collects %s, which is not a contract family", raw)
		}
	}

	files, _ := filepath.Glob(filepath.Join("datadog", "monitors", "*.json"))
	sort.Strings(files)
	ref := regexp.MustCompile(`binlog_sidecar\.[a-z_.]*[a-z_]`)
	var names []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			Name, Type, Query, Message string
			Options                    struct {
				Thresholds map[string]float64 `json:"thresholds"`
			}
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if m.Name == "" || m.Message == "" || len(m.Options.Thresholds) == 0 || (m.Type != "query alert" && m.Type != "service check") {
			t.Errorf("%s: want name, message, thresholds and a query alert or service check type", path)
		}
		uses := ref.FindAllString(m.Query, -1)
		if len(uses) == 0 {
			t.Errorf("%s: query %q names no binlog_sidecar metric", path, m.Query)
		}
		for _, u := range uses {
			if !produced[u] {
				t.Errorf("%s: query uses %s, which the OpenMetrics check does not produce", path, u)
			}
		}
		names = append(names, strings.TrimSuffix(filepath.Base(path), ".json"))
	}
	// The monitors the corrective actions ask for.
	for _, want := range []string{"health-critical", "replica-missing", "dump-thread-zombie", "semisync-commits-waiting", "stream-down", "stream-stalled", "events-dropped"} {
		if !contains(names, want) {
			t.Errorf("no monitor %s.json", want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPrometheusAlerts_names: alerts only use families the sidecar exposes.
func TestPrometheusAlerts_names(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	ref := regexp.MustCompile(`binlog_sidecar_[a-z_]+`)
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, u := range ref.FindAllString(r.Expr, -1) {
				if _, ok := families[u]; !ok {
					t.Errorf("alert %s uses %s, which is not a contract family", r.Alert, u)
				}
			}
		}
	}
	if n == 0 {
		t.Error("no alert rules")
	}
}

// TestCompose: MySQL writes the binlog the sidecar needs, NATS runs
// JetStream, and the sidecar's variables exist and point at both.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("compose", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			DependsOn   map[string]any    `yaml:"depends_on"`
			Build       map[string]any    `yaml:"build"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	mysql, nats, sc := c.Services["mysql"], c.Services["nats"], c.Services["sidecar"]
	if !strings.HasPrefix(mysql.Image, "mysql:8.4") || !contains(nats.Command, "-js") || sc.Build == nil {
		t.Fatalf("want mysql:8.4, nats with -js and the sidecar built here; got %q, %v, %v", mysql.Image, nats.Command, sc.Build)
	}
	// MySQL's flags as an option file, judged by the validator.
	cnf := "[mysqld-8.4]\n"
	for _, arg := range mysql.Command {
		cnf += strings.TrimPrefix(arg, "--") + "\n"
	}
	checkMyCnf(t, "compose mysql command", cnf)
	for _, flag := range []string{"--binlog-format=ROW", "--gtid-mode=ON", "--enforce-gtid-consistency=ON"} {
		if !contains(mysql.Command, flag) {
			t.Errorf("mysql command lacks %s", flag)
		}
	}

	vars := configVars(t)
	for k := range sc.Environment {
		if _, ok := vars[k]; !ok {
			t.Errorf("sidecar environment: %s is not a sidecar variable", k)
		}
	}
	if !strings.HasPrefix(sc.Environment["SIDECAR_MYSQL_ADDR"], "mysql:") || !strings.Contains(sc.Environment["SIDECAR_NATS_URL"], "nats:4222") {
		t.Errorf("sidecar must reach mysql and nats by service name: %v", sc.Environment)
	}
	if _, ok := sc.DependsOn["mysql"]; !ok {
		t.Errorf("sidecar does not depend on mysql")
	}
	for name, s := range c.Secrets {
		if _, err := os.Stat(filepath.Join("compose", s.File)); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
}
