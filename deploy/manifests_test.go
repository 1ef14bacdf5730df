package deploy

import (
	"bufio"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/binlog-sidecar/binlog-sidecar/api"
	"github.com/binlog-sidecar/binlog-sidecar/events"
	"github.com/binlog-sidecar/binlog-sidecar/health"
	"github.com/binlog-sidecar/binlog-sidecar/mycnf"
	"github.com/binlog-sidecar/binlog-sidecar/stream"
	"github.com/binlog-sidecar/binlog-sidecar/validate"
)

// families are the sidecar's metric families by type: the contract's, the
// ones 0.1.0 added, and the new ones of 0.2.0 (TestDatadog_scrape checks
// that everything a running sidecar exposes is here). The process_* and go_*
// runtime families are matched by prefix, not listed.
var families = map[string]string{
	"binlog_sidecar_stream_events_total": "counter", "binlog_sidecar_stream_bytes_total": "counter",
	"binlog_sidecar_stream_rows_total": "counter", "binlog_sidecar_stream_transactions_total": "counter",
	"binlog_sidecar_stream_lag_seconds": "gauge", "binlog_sidecar_stream_connected": "gauge",
	"binlog_sidecar_stream_reconnects_total": "counter", "binlog_sidecar_dump_threads": "gauge",
	"binlog_sidecar_replicas": "gauge", "binlog_sidecar_semisync_clients": "gauge",
	"binlog_sidecar_semisync_waiting_sessions": "gauge", "binlog_sidecar_problem_active": "gauge",
	"binlog_sidecar_health_status": "gauge", "binlog_sidecar_events_published_total": "counter",
	"binlog_sidecar_events_pending": "gauge", "binlog_sidecar_events_dropped_total": "counter",
	// 0.1.0 additions.
	"binlog_sidecar_stream_rotations_total": "counter", "binlog_sidecar_stream_behind_bytes": "gauge",
	"binlog_sidecar_stream_stalled": "gauge", "binlog_sidecar_stream_gaps_total": "counter",
	"binlog_sidecar_stream_last_received_timestamp_seconds": "gauge",
	"binlog_sidecar_stream_transaction_bytes":               "histogram", "binlog_sidecar_stream_transaction_rows": "histogram",
	"binlog_sidecar_events_bus_connected": "gauge",
	// 0.2.0.
	"binlog_sidecar_check_state": "gauge", "binlog_sidecar_mysql_up": "gauge",
	"binlog_sidecar_poll_duration_seconds": "histogram", "binlog_sidecar_poll_errors_total": "counter",
	"binlog_sidecar_build_info":                 "gauge",
	"binlog_sidecar_events_dead_lettered_total": "counter",
	"binlog_sidecar_canary_commit_seconds":      "histogram", "binlog_sidecar_canary_delivery_seconds": "histogram",
}

// runtimeFamily: the sidecar's own process and Go runtime figures
// (unprefixed from 0.2.0, binlog_sidecar_-prefixed before).
var runtimeFamily = regexp.MustCompile(`^(binlog_sidecar_)?(process|go)_`)

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
	vars["SIDECAR_NATS_KV_BUCKET"] = "MYSQL_HEALTH_STATUS"
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

// k8sObjects decodes every document of a manifest strictly into its
// Kubernetes API type, as the API server would: an unknown or misspelt
// field, a duplicate key or a wrong type is an error (a schema download
// cannot work here, the Go types are the schema).
func k8sObjects(t *testing.T, path string) []runtime.Object {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []runtime.Object
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		var tm metav1.TypeMeta
		if err := sigsyaml.Unmarshal([]byte(doc), &tm); err != nil {
			t.Fatalf("%s document %d: %v", path, i+1, err)
		}
		var obj runtime.Object
		switch tm.APIVersion + " " + tm.Kind {
		case "v1 ConfigMap":
			obj = &corev1.ConfigMap{}
		case "v1 Service":
			obj = &corev1.Service{}
		case "apps/v1 StatefulSet":
			obj = &appsv1.StatefulSet{}
		case "networking.k8s.io/v1 NetworkPolicy":
			obj = &networkingv1.NetworkPolicy{}
		default:
			t.Fatalf("%s document %d: unexpected %s %s", path, i+1, tm.APIVersion, tm.Kind)
		}
		if err := sigsyaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("%s document %d (%s): %v", path, i+1, tm.Kind, err)
		}
		t.Logf("%s document %d: %s %s decoded strictly", path, i+1, tm.APIVersion, tm.Kind)
		objs = append(objs, obj)
	}
	return objs
}

// mebibytes reads a size written as the manifests write it, NNNMiB.
func mebibytes(s string) (int64, bool) {
	m := regexp.MustCompile(`^(\d+)MiB$`).FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	return n << 20, err == nil
}

func TestKubernetes(t *testing.T) {
	var (
		cm       *corev1.ConfigMap
		sts      *appsv1.StatefulSet
		services []*corev1.Service
		netpol   *networkingv1.NetworkPolicy
	)
	for _, o := range k8sObjects(t, filepath.Join("kubernetes", "sidecar.yaml")) {
		switch o := o.(type) {
		case *corev1.ConfigMap:
			cm = o
		case *appsv1.StatefulSet:
			sts = o
		case *corev1.Service:
			services = append(services, o)
		case *networkingv1.NetworkPolicy:
			netpol = o
		}
	}
	if cm == nil || sts == nil || netpol == nil || len(services) == 0 {
		t.Fatalf("want a ConfigMap, a StatefulSet, a Service and a NetworkPolicy")
	}
	pod := sts.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}

	// Start and stop order: validate first, then the sidecar as a native
	// sidecar (an init container with restartPolicy Always), then MySQL.
	if len(pod.InitContainers) != 2 || len(pod.Containers) != 1 || pod.Containers[0].Name != "mysql" {
		t.Fatalf("want init containers [validate-mycnf sidecar] and MySQL as the one container, got %d and %d", len(pod.InitContainers), len(pod.Containers))
	}
	val, sc, mysql := pod.InitContainers[0], pod.InitContainers[1], pod.Containers[0]
	if sc.Name != "sidecar" || sc.RestartPolicy == nil || *sc.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("init container 2 must be the sidecar with restartPolicy Always (a native sidecar), got %s %v", sc.Name, sc.RestartPolicy)
	}
	if val.RestartPolicy != nil {
		t.Errorf("validate-mycnf must run to completion, not as a sidecar (restartPolicy %v)", *val.RestartPolicy)
	}

	// The sidecar never gates MySQL's readiness: no readiness probe on it,
	// and MySQL's own probe is the pod's only one.
	if sc.ReadinessProbe != nil {
		t.Errorf("the sidecar has a readinessProbe: a native sidecar's readiness makes the MySQL pod NotReady")
	}
	if mysql.ReadinessProbe == nil {
		t.Errorf("MySQL has no readinessProbe of its own")
	}
	httpPort := func(c corev1.Container, p intstr.IntOrString) int32 {
		if p.Type == intstr.Int {
			return p.IntVal
		}
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				return cp.ContainerPort
			}
		}
		return 0
	}
	for name, pr := range map[string]*corev1.Probe{"livenessProbe": sc.LivenessProbe, "startupProbe": sc.StartupProbe} {
		if pr == nil || pr.HTTPGet == nil || pr.HTTPGet.Path != "/livez" || httpPort(sc, pr.HTTPGet.Port) != 9106 {
			t.Errorf("sidecar %s: want GET /livez on 9106 (never depends on MySQL), got %+v", name, pr)
		}
	}

	// The headless Service keeps the pod's DNS name while MySQL is not
	// Ready; it is the StatefulSet's governing Service.
	var headless *corev1.Service
	for _, s := range services {
		if s.Name == sts.Spec.ServiceName {
			headless = s
		}
	}
	if headless == nil || headless.Spec.ClusterIP != corev1.ClusterIPNone || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("want the governing Service %q headless with publishNotReadyAddresses, got %+v", sts.Spec.ServiceName, headless)
	}

	// Images pinned (a version tag or a digest), never pulled again under
	// the same name.
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		name, tag, _ := strings.Cut(c.Image, ":")
		pinned := strings.Contains(c.Image, "@sha256:") || regexp.MustCompile(`^v?\d+\.\d+\.\d+`).MatchString(tag)
		if !pinned || name == "" {
			t.Errorf("container %s: image %q is not pinned to a version or digest", c.Name, c.Image)
		}
		if c.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("container %s: imagePullPolicy %q, want IfNotPresent", c.Name, c.ImagePullPolicy)
		}
	}
	if val.Image != sc.Image {
		t.Errorf("validate-mycnf runs %s, the sidecar %s: one image", val.Image, sc.Image)
	}

	if r := sc.Resources; r.Requests.Cpu().String() != "50m" || r.Requests.Memory().String() != "64Mi" || r.Limits.Memory().String() != "256Mi" {
		t.Errorf("resources: got %+v, want requests 50m/64Mi, limit 256Mi", r)
	}
	s := sc.SecurityContext
	if s == nil || s.RunAsNonRoot == nil || !*s.RunAsNonRoot || s.RunAsUser == nil || *s.RunAsUser != 65532 || s.ReadOnlyRootFilesystem == nil || !*s.ReadOnlyRootFilesystem ||
		s.AllowPrivilegeEscalation == nil || *s.AllowPrivilegeEscalation {
		t.Errorf("securityContext: want non-root 65532, read-only root fs, no privilege escalation; got %+v", s)
	}

	mountOf := func(c corev1.Container, path string) (corev1.Volume, bool) {
		for _, m := range c.VolumeMounts {
			if path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/") {
				return volumes[m.Name], true
			}
		}
		return corev1.Volume{}, false
	}
	vars := configVars(t)
	env := map[string]string{}
	for _, e := range sc.Env {
		if _, ok := vars[e.Name]; !ok {
			t.Errorf("env %s is not a sidecar variable", e.Name)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("env %s comes from a Secret: the sidecar reads secrets from files (_FILE)", e.Name)
		}
		env[e.Name] = e.Value
	}

	// The Secret is mounted by key: the sidecar sees its own password and
	// nothing else (never root-password).
	if v, ok := mountOf(sc, env["SIDECAR_MYSQL_PASSWORD_FILE"]); !ok || v.Secret == nil {
		t.Errorf("SIDECAR_MYSQL_PASSWORD_FILE=%q is not in a mounted Secret", env["SIDECAR_MYSQL_PASSWORD_FILE"])
	}
	for _, m := range sc.VolumeMounts {
		v := volumes[m.Name]
		if v.Secret == nil {
			continue
		}
		if len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "sidecar-password" ||
			filepath.Join(m.MountPath, v.Secret.Items[0].Path) != env["SIDECAR_MYSQL_PASSWORD_FILE"] {
			t.Errorf("secret volume %s: the sidecar must see only the key sidecar-password, at SIDECAR_MYSQL_PASSWORD_FILE; items %+v", m.Name, v.Secret.Items)
		}
	}

	// The spool's limit sits below the volume's, so a full spool never gets
	// the pod (and MySQL with it) evicted.
	data, ok := mountOf(sc, env["SIDECAR_DATA_DIR"])
	if !ok || data.EmptyDir == nil || data.EmptyDir.SizeLimit == nil {
		t.Fatalf("SIDECAR_DATA_DIR=%q is not an emptyDir with a sizeLimit (the root fs is read-only)", env["SIDECAR_DATA_DIR"])
	}
	spool, ok := mebibytes(env["SIDECAR_SPOOL_MAX_BYTES"])
	if !ok || spool <= 0 {
		t.Errorf("SIDECAR_SPOOL_MAX_BYTES=%q: want a size in MiB set explicitly", env["SIDECAR_SPOOL_MAX_BYTES"])
	}
	if limit := data.EmptyDir.SizeLimit.Value(); spool > limit*3/4 {
		t.Errorf("SIDECAR_SPOOL_MAX_BYTES=%d leaves less than a quarter of the volume's sizeLimit %d free", spool, limit)
	}
	if v, ok := mountOf(sc, env["SIDECAR_EXPECTED_REPLICAS_FILE"]); !ok || v.ConfigMap == nil {
		t.Errorf("SIDECAR_EXPECTED_REPLICAS_FILE=%q is not in a mounted ConfigMap", env["SIDECAR_EXPECTED_REPLICAS_FILE"])
	}

	// The init container validates the same my.cnf MySQL reads, as a
	// source, whatever else is set; and that my.cnf passes the validator.
	if a := val.Args; len(a) != 4 || a[0] != "validate" || a[1] != "--role" || a[2] != "source" {
		t.Errorf("want validate-mycnf to run `sidecar validate --role source FILE`, got %v", a)
	} else if v, ok := mountOf(val, a[3]); !ok || v.ConfigMap == nil || v.ConfigMap.Items[0].Key != "replication.cnf" {
		t.Errorf("validate-mycnf checks %s, which is not the replication.cnf ConfigMap key", a[3])
	}
	checkMyCnf(t, "replication.cnf (ConfigMap)", cm.Data["replication.cnf"])

	// The NetworkPolicy selects this pod and opens what the sidecar needs:
	// 9106 in, NATS and DNS out.
	if !reflect.DeepEqual(netpol.Spec.PodSelector.MatchLabels, sts.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy selects %v, the pod is labelled %v", netpol.Spec.PodSelector.MatchLabels, sts.Spec.Template.Labels)
	}
	ports := func(rules [][]networkingv1.NetworkPolicyPort) map[int32]bool {
		out := map[int32]bool{}
		for _, ps := range rules {
			for _, p := range ps {
				out[p.Port.IntVal] = true
			}
		}
		return out
	}
	var in, out [][]networkingv1.NetworkPolicyPort
	for _, r := range netpol.Spec.Ingress {
		in = append(in, r.Ports)
	}
	for _, r := range netpol.Spec.Egress {
		out = append(out, r.Ports)
	}
	natsPort := regexp.MustCompile(`:(\d+)$`).FindStringSubmatch(env["SIDECAR_NATS_URL"])
	if !ports(in)[9106] || !ports(in)[3306] || natsPort == nil || !ports(out)[int32(atoi(natsPort[1]))] || !ports(out)[53] {
		t.Errorf("NetworkPolicy: want ingress 3306 and 9106, egress NATS (%s) and DNS; got in %v out %v", env["SIDECAR_NATS_URL"], ports(in), ports(out))
	}

	// The Datadog annotation collects what the host check collects.
	var ad map[string]struct {
		Instances []struct {
			Metrics []any `json:"metrics"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(sts.Spec.Template.Annotations["ad.datadoghq.com/sidecar.checks"]), &ad); err != nil {
		t.Fatalf("Datadog annotation: %v", err)
	}
	if got, want := metricEntries(ad["openmetrics"].Instances[0].Metrics), datadogMetrics(t); !reflect.DeepEqual(got, want) {
		t.Errorf("Datadog annotation metrics %v differ from conf.yaml %v", got, want)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
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

// metricEntries reads an OpenMetrics check's metrics list: a mapping entry
// renames (raw name, without _total, to Datadog name); a string entry is a
// regular expression whose matches keep their raw name (value "").
func metricEntries(list []any) map[string]string {
	out := map[string]string{}
	for _, e := range list {
		switch e := e.(type) {
		case string:
			out[e] = ""
		case map[string]any:
			for k, v := range e {
				out[k], _ = v.(string)
			}
		}
	}
	return out
}

// datadogMetrics is conf.yaml's metrics list, as metricEntries reads it.
func datadogMetrics(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("datadog", "conf.d", "openmetrics.d", "conf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Instances []struct {
			Endpoint  string `yaml:"openmetrics_endpoint"`
			Namespace string `yaml:"namespace"`
			Metrics   []any  `yaml:"metrics"`
		} `yaml:"instances"`
	}
	if err := yaml.Unmarshal(b, &conf); err != nil {
		t.Fatalf("conf.yaml: %v", err)
	}
	if len(conf.Instances) != 1 || !strings.HasSuffix(conf.Instances[0].Endpoint, ":9106/metrics") || conf.Instances[0].Namespace != "binlog_sidecar" {
		t.Fatalf("conf.yaml: want one instance scraping :9106/metrics into namespace binlog_sidecar, got %+v", conf.Instances)
	}
	return metricEntries(conf.Instances[0].Metrics)
}

// datadogName is the Datadog name conf.yaml gives an exposed family, and
// whether it collects it at all. As the Agent does, a counter is looked up
// without _total and every entry matches the whole name.
func datadogName(mapping map[string]string, family string) (string, bool) {
	raw := strings.TrimSuffix(family, "_total")
	if dd, ok := mapping[raw]; ok && dd != "" {
		return dd, true
	}
	for pattern, dd := range mapping {
		if dd == "" && regexp.MustCompile(`^(?:`+pattern+`)$`).MatchString(raw) {
			return raw, true
		}
	}
	return "", false
}

// TestDatadog: the check collects every family, names only families that
// exist, and every monitor queries a metric the check produces.
func TestDatadog(t *testing.T) {
	mapping := datadogMetrics(t)
	produced := map[string]bool{"binlog_sidecar.openmetrics.health": true} // the check's service check
	for fam, typ := range families {
		dd, ok := datadogName(mapping, fam)
		if !ok {
			t.Errorf("conf.yaml does not collect %s (list it as %s)", fam, strings.TrimSuffix(fam, "_total"))
			continue
		}
		switch typ {
		case "counter":
			produced["binlog_sidecar."+dd+".count"] = true
		case "histogram":
			for _, s := range []string{".bucket", ".sum", ".count"} {
				produced["binlog_sidecar."+dd+s] = true
			}
		default:
			produced["binlog_sidecar."+dd] = true
		}
	}
	for raw, dd := range mapping {
		if dd == "" {
			if !runtimeFamily.MatchString(raw) {
				t.Errorf("conf.yaml pattern %s: only the process_ and go_ runtime families are collected by pattern", raw)
			}
			continue
		}
		if families[raw] == "" && families[raw+"_total"] == "" {
			t.Errorf("conf.yaml collects %s, which is not a family of the sidecar", raw)
		}
	}

	anchors := runbookAnchors(t)
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
		// Datadog's own MySQL check counts any Binlog Dump thread, the
		// sidecar's own included, as healthy replication.
		if strings.Contains(m.Query, "mysql.replication") {
			t.Errorf("%s: relies on Datadog's MySQL replication check, which the sidecar's own dump thread keeps green", path)
		}
		if link := regexp.MustCompile(regexp.QuoteMeta(runbookURL) + `(\S+)`).FindStringSubmatch(m.Message); link == nil || !anchors[link[1]] {
			t.Errorf("%s: the message links no section of docs/runbook.md", path)
		}
		names = append(names, strings.TrimSuffix(filepath.Base(path), ".json"))
	}
	// The monitors the corrective actions ask for.
	for _, want := range []string{"health-critical", "replica-missing", "dump-thread-zombie", "semisync-commits-waiting", "stream-down", "stream-stalled", "events-dropped",
		"stream-lag", "check-unavailable", "source-unreachable"} {
		if !contains(names, want) {
			t.Errorf("no monitor %s.json", want)
		}
	}
}

// TestDatadog_scrape scrapes a real sidecar HTTP server in process: every
// family it exposes is one TestDatadog knows and conf.yaml collects.
func TestDatadog_scrape(t *testing.T) {
	srv := httptest.NewServer(api.New(":0", api.Sources{
		Stream: func() stream.Snapshot { return stream.Snapshot{} },
		Health: func() health.Report { return health.Report{} },
		Bus:    func() events.Stats { return events.Stats{} },
		Live:   func() error { return nil },
	}, zerolog.Nop()).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	tp := expfmt.NewTextParser(model.LegacyValidation)
	exposed, err := tp.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	mapping := datadogMetrics(t)
	for name := range exposed {
		if families[name] == "" && !runtimeFamily.MatchString(name) {
			t.Errorf("the sidecar exposes %s, which the families list (and so TestDatadog) does not know", name)
		}
		if _, ok := datadogName(mapping, name); !ok {
			t.Errorf("the sidecar exposes %s, which conf.yaml does not collect", name)
		}
	}
	if len(exposed) < 20 {
		t.Errorf("scraped only %d families", len(exposed))
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

// runbookAnchors are the section anchors of docs/runbook.md, as GitHub
// renders them.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "runbook.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, m := range regexp.MustCompile(`(?m)^#+ +(.+)$`).FindAllStringSubmatch(string(b), -1) {
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(m[1]), ""), " ", "-")] = true
	}
	return anchors
}

const runbookURL = "https://github.com/binlog-sidecar/binlog-sidecar/blob/main/docs/runbook.md#"

// TestPrometheusAlerts: an alert for every problem type, for lag, the bus
// and the sidecar being gone (absent() and up, neither tied to a job
// label); alerts use only the sidecar's families; each links a runbook
// section that exists. promtool proves each fires and resolves.
func TestPrometheusAlerts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Expr        string            `yaml:"expr"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &rules); err != nil {
		t.Fatal(err)
	}
	anchors := runbookAnchors(t)
	var exprs []string
	ref := regexp.MustCompile(`binlog_sidecar_[a-z_]+`)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, r.Expr)
			for _, u := range ref.FindAllString(r.Expr, -1) {
				if _, ok := families[u]; !ok {
					t.Errorf("alert %s uses %s, which is not a family of the sidecar", r.Alert, u)
				}
			}
			if strings.Contains(r.Expr, "job=") {
				t.Errorf("alert %s depends on a job label: %s", r.Alert, r.Expr)
			}
			if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("alert %s: severity %q", r.Alert, sev)
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookURL)
			if !ok || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q is not a section of docs/runbook.md", r.Alert, r.Annotations["runbook_url"])
			}
		}
	}
	has := func(what, re string) {
		t.Helper()
		for _, e := range exprs {
			if regexp.MustCompile(re).MatchString(e) {
				return
			}
		}
		t.Errorf("no alert for %s (an expr matching %s)", what, re)
	}
	for _, typ := range append(health.ProblemTypes(), "check.unavailable", "commit.slow") {
		has(typ, `binlog_sidecar_problem_active\{type="`+regexp.QuoteMeta(typ)+`"\} > 0`)
	}
	has("stream.gap (an event, counted)", `increase\(binlog_sidecar_stream_gaps_total\[`)
	has("semi-sync commits waiting", `binlog_sidecar_semisync_waiting_sessions > 0`)
	has("lag", `binlog_sidecar_stream_lag_seconds >`)
	has("the bus", `binlog_sidecar_events_bus_connected == 0`)
	has("dropped events", `increase\(binlog_sidecar_events_dropped_total\[`)
	has("no sidecar at all", `^absent\(binlog_sidecar_health_status\)$`)
	has("a sidecar that cannot be scraped", `^up == 0 and on \(job, instance\) present_over_time\(binlog_sidecar_`)
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
