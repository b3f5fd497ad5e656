package deploy_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/trailwatch/trailwatch/internal/app"
	"github.com/trailwatch/trailwatch/internal/config"
)

const haDir = "kubernetes-ha"

// haSecret reads the example Secret of the PostgreSQL DSN.
func haSecret(t *testing.T) (name, key, dsn string) {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(haDir, "secret-postgres.example.yaml"))), &s); err != nil {
		t.Fatal(err)
	}
	name = fmt.Sprint(get(s, "metadata", "name"))
	data, _ := get(s, "stringData").(map[string]any)
	if len(data) != 1 {
		t.Fatalf("example Secret stringData = %v, want one key", data)
	}
	for k, v := range data {
		key, dsn = k, fmt.Sprint(v)
	}
	if !strings.Contains(dsn, "EXAMPLE") {
		t.Errorf("the example DSN is not a placeholder containing EXAMPLE: %q", dsn)
	}
	return name, key, dsn
}

// checkHAConfig checks the HA ConfigMap's trailwatch.yaml with trailwatch's
// own loader and checks: PostgreSQL from the Secret's variable, every part
// valid.
func checkHAConfig(t *testing.T, text, dsnVar, dsn string) {
	t.Helper()
	cfg, err := config.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatalf("trailwatch.yaml of the HA overlay: %v", err)
	}
	if cfg.Store.DSN != "${"+dsnVar+"}" {
		t.Errorf("store.dsn = %q, want ${%s} (from the Secret, never in the ConfigMap)", cfg.Store.DSN, dsnVar)
	}
	if cfg.Store.Lease() <= 0 || cfg.Admin.Listen != "0.0.0.0:9090" || cfg.Log.Format != "json" {
		t.Errorf("store/admin/log = %+v %+v %+v", cfg.Store, cfg.Admin, cfg.Log)
	}
	getenv := func(k string) string {
		switch k {
		case dsnVar:
			return dsn
		case "SLACK_WEBHOOK_URL":
			return "https://hooks.slack.com/services/TEXAMPLE00/BEXAMPLE00/EXAMPLEEXAMPLEEXAMPLE0000"
		}
		return ""
	}
	if got, err := cfg.Store.ResolveDSN(getenv); err != nil || got != dsn {
		t.Errorf("store.dsn resolves to %q, %v; want the Secret's", got, err)
	}
	if err := app.Check(cfg, app.CheckOptions{Getenv: getenv}); err != nil {
		t.Errorf("config check of the HA trailwatch.yaml: %v", err)
	}
}

// TestKubernetesHAOverlayFiles checks the overlay's files without
// kustomize: what it lists exists, the example Secret is not applied, and
// its trailwatch.yaml is valid on PostgreSQL.
func TestKubernetesHAOverlayFiles(t *testing.T) {
	var kust struct {
		Resources []string `yaml:"resources"`
		Patches   []struct {
			Path string `yaml:"path"`
		} `yaml:"patches"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(haDir, "kustomization.yaml"))), &kust); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(kust.Resources, " "), "../kubernetes") {
		t.Errorf("resources %v do not build on the base ../kubernetes", kust.Resources)
	}
	var files []string
	for _, r := range kust.Resources {
		files = append(files, r)
	}
	for _, p := range kust.Patches {
		if p.Path != "" {
			files = append(files, p.Path)
		}
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(haDir, f)); err != nil {
			t.Errorf("kustomization.yaml: %v", err)
		}
		if strings.Contains(f, "secret") {
			t.Errorf("kustomization.yaml applies the example Secret %s", f)
		}
	}
	_, key, dsn := haSecret(t)
	var cm map[string]any
	if err := yaml.Unmarshal([]byte(readFile(t, filepath.Join(haDir, "configmap.yaml"))), &cm); err != nil {
		t.Fatal(err)
	}
	text, _ := get(cm, "data", "trailwatch.yaml").(string)
	checkHAConfig(t, text, key, dsn)
}

// TestKubernetesHAOverlayBuild renders the overlay with kubectl kustomize
// and checks what several replicas need.
func TestKubernetesHAOverlayBuild(t *testing.T) {
	out := runTool(t, "kubectl", "kustomize", haDir)
	objs := map[string]map[string]any{}
	var kinds []string
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var obj map[string]any
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprint(obj["kind"]))
		objs[fmt.Sprintf("%v/%v", obj["kind"], get(obj, "metadata", "name"))] = obj
	}
	sort.Strings(kinds)
	want := []string{"ConfigMap", "Deployment", "Namespace", "PodDisruptionBudget", "Service", "ServiceAccount"}
	if d := cmp.Diff(want, kinds); d != "" {
		t.Errorf("kinds (-want +got), no PersistentVolumeClaim on PostgreSQL:\n%s", d)
	}
	dep := objs["Deployment/trailwatch"]
	if dep == nil {
		t.Fatal("no Deployment/trailwatch")
	}
	replicas, _ := get(dep, "spec", "replicas").(int)
	if replicas < 2 {
		t.Errorf("replicas = %v, want several", get(dep, "spec", "replicas"))
	}
	if get(dep, "spec", "strategy", "type") != "RollingUpdate" {
		t.Errorf("strategy = %v, want RollingUpdate (replicas share PostgreSQL, no volume to hand over)", get(dep, "spec", "strategy"))
	}
	labels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	selects := func(sel any) bool {
		m, ok := sel.(map[string]any)
		if !ok || len(m) == 0 {
			return false
		}
		for k, v := range m {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	pod := get(dep, "spec", "template", "spec").(map[string]any)
	for _, v := range pod["volumes"].([]any) {
		if get(v, "persistentVolumeClaim") != nil {
			t.Errorf("volume %v claims a PVC; replicas share PostgreSQL", get(v, "name"))
		}
	}
	anti, _ := get(pod, "affinity", "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution").([]any)
	hostSpread := false
	for _, a := range anti {
		if get(a, "podAffinityTerm", "topologyKey") == "kubernetes.io/hostname" && selects(get(a, "podAffinityTerm", "labelSelector", "matchLabels")) {
			hostSpread = true
		}
	}
	if !hostSpread {
		t.Errorf("no pod anti-affinity over kubernetes.io/hostname selecting the replicas: %v", get(pod, "affinity"))
	}
	c := pod["containers"].([]any)[0].(map[string]any)
	for _, m := range c["volumeMounts"].([]any) {
		if get(m, "mountPath") == "/var/lib/trailwatch" {
			t.Error("the SQLite data mount is still there")
		}
	}
	if get(c, "readinessProbe", "httpGet", "path") != "/readyz" {
		t.Errorf("readiness probe = %v, want /readyz (it fails while the store does not answer)", get(c, "readinessProbe"))
	}
	secretName, key, dsn := haSecret(t)
	found := false
	for _, e := range c["env"].([]any) {
		if get(e, "name") == key {
			found = true
			if get(e, "valueFrom", "secretKeyRef", "name") != secretName || get(e, "valueFrom", "secretKeyRef", "key") != key {
				t.Errorf("%s comes from %v, want Secret %s key %s", key, get(e, "valueFrom"), secretName, key)
			}
		}
	}
	if !found {
		t.Errorf("no %s in the container's environment", key)
	}
	pdb := objs["PodDisruptionBudget/trailwatch"]
	if pdb == nil {
		t.Fatal("no PodDisruptionBudget/trailwatch")
	}
	if !selects(get(pdb, "spec", "selector", "matchLabels")) {
		t.Errorf("PDB selector %v does not select the replicas", get(pdb, "spec", "selector"))
	}
	if mu, _ := get(pdb, "spec", "maxUnavailable").(int); mu < 1 || mu >= replicas {
		t.Errorf("PDB maxUnavailable = %v, want at least 1 and fewer than the %d replicas", get(pdb, "spec", "maxUnavailable"), replicas)
	}
	cm := objs["ConfigMap/trailwatch-config"]
	text, _ := get(cm, "data", "trailwatch.yaml").(string)
	checkHAConfig(t, text, key, dsn)
}
