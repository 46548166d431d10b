package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kerf-autoscaler/kerf/test/awsim"
	"github.com/kerf-autoscaler/kerf/test/kubeenv"
)

// The controller authenticates as the chart's ServiceAccount would, so it holds exactly the RBAC
// the chart grants: a permission the chart forgot fails here as it would in a user's cluster.
const serviceAccountUser = "system:serviceaccount:" + chartNamespace + ":kerf"

var serviceAccountGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + chartNamespace}

// chartKubeVersion is what helm template assumes the cluster runs.
const chartKubeVersion = "v1.36.3"

// renderChart runs helm template on charts/kerf with the values a Karpenter v0.31 user sets (its
// getting-started guide's settings.aws keys, not Kerf's twins), so the cluster name, queue and
// instance profile reach the controller through the karpenter-global-settings ConfigMap alone.
func renderChart(ctx context.Context, helm, clusterName string) ([]*unstructured.Unstructured, error) {
	return renderChartWith(ctx, helm, "settings.aws.clusterName="+clusterName, "settings.aws.interruptionQueueName="+InterruptionQueue,
		"settings.aws.defaultInstanceProfile="+awsim.NodeInstanceProfileFor(clusterName))
}

// renderChartWith renders the chart with each of sets as a --set value.
func renderChartWith(ctx context.Context, helm string, sets ...string) ([]*unstructured.Unstructured, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	args := []string{"template", "kerf", "charts/kerf", "--namespace", chartNamespace, "--kube-version", chartKubeVersion}
	for _, set := range sets {
		args = append(args, "--set", set)
	}
	cmd := exec.CommandContext(ctx, helm, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("rendering the chart, %w\n%s", err, stderr.String())
	}
	return decodeManifests(&stdout)
}

// decodeManifests reads a stream of YAML documents.
func decodeManifests(r io.Reader) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := decoder.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("decoding manifest, %w", err)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// chartEnvironment is the controller container's environment as the chart sets it, as
// NAME=value pairs; the namespace comes from the Downward API in a cluster and is the chart's
// namespace here.
func chartEnvironment(ctx context.Context, helm, clusterName string) ([]string, error) {
	objects, err := renderChart(ctx, helm, clusterName)
	if err != nil {
		return nil, err
	}
	for _, u := range objects {
		if u.GetKind() != "Deployment" {
			continue
		}
		deployment := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, deployment); err != nil {
			return nil, fmt.Errorf("reading the chart's Deployment, %w", err)
		}
		var env []string
		for _, v := range deployment.Spec.Template.Spec.Containers[0].Env {
			switch {
			case v.ValueFrom == nil:
				env = append(env, v.Name+"="+v.Value)
			case v.ValueFrom.FieldRef != nil && v.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
				env = append(env, v.Name+"="+chartNamespace)
			default:
				return nil, fmt.Errorf("the chart sets %s from a source the stack cannot supply", v.Name)
			}
		}
		return env, nil
	}
	return nil, fmt.Errorf("the chart renders no Deployment")
}

// installChartRBAC creates the chart's namespace, ServiceAccount and RBAC objects (everything the
// controller's permissions depend on) and the karpenter-global-settings ConfigMap the controller
// reads its v0.31 settings from, before the controller starts. The Deployment is the controller
// process itself.
func (s *Stack) installChartRBAC(ctx context.Context) error {
	objects, err := renderChart(ctx, s.binaries.Helm, s.opts.ClusterName)
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}}
	if err := s.Env.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
		return fmt.Errorf("creating namespace %s, %w", chartNamespace, err)
	}
	settings := false
	for _, u := range objects {
		isSettings := u.GetKind() == "ConfigMap" && u.GetName() == globalSettingsConfigMap
		if !isSettings && !slices.Contains(chartAccessKinds, u.GetKind()) {
			continue
		}
		settings = settings || isSettings
		if err := s.Env.Client.Create(ctx, u); err != nil {
			return fmt.Errorf("creating the chart's %s %s, %w", u.GetKind(), u.GetName(), err)
		}
	}
	if !settings {
		return fmt.Errorf("the chart renders no %s ConfigMap: the controller would run without the v0.31 settings it was given", globalSettingsConfigMap)
	}
	return nil
}

// chartAccessKinds are the kinds of the chart's objects that make up the controller's identity
// and permissions.
var chartAccessKinds = []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}

// globalSettingsConfigMap is the ConfigMap the chart renders Karpenter v0.31's settings into.
const globalSettingsConfigMap = "karpenter-global-settings"

// Apply creates every object in a YAML stream, skipping those that exist, and returns them.
func Apply(ctx context.Context, env *kubeenv.Env, r io.Reader) ([]*unstructured.Unstructured, error) {
	objects, err := decodeManifests(r)
	if err != nil {
		return nil, err
	}
	for _, u := range objects {
		if err := env.Client.Create(ctx, u); client.IgnoreAlreadyExists(err) != nil {
			return nil, fmt.Errorf("applying %s %s, %w", u.GetKind(), u.GetName(), err)
		}
	}
	return objects, nil
}
