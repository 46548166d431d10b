// Package kubeenv starts a real kube-apiserver and etcd for tests (controller-runtime's envtest),
// with Kerf's CRDs installed and a client built on Kerf's scheme. The binaries come from
// hack/control-plane.sh through KUBEBUILDER_ASSETS; `make test` sets it.
package kubeenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kerf-autoscaler/kerf/pkg/apis"
	"github.com/kerf-autoscaler/kerf/pkg/apis/crds"
)

// Env is a running control plane.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *runtime.Scheme

	environment *envtest.Environment
	components  []*Process
	logs        []*os.File
	tempDir     string
}

// ErrNoAssets means the control-plane binaries were not found.
var ErrNoAssets = errors.New("KUBEBUILDER_ASSETS is unset or lacks a control-plane binary: run `make test`, or export KUBEBUILDER_ASSETS=\"$(hack/control-plane.sh)\"")

// Start runs etcd and kube-apiserver and installs Kerf's CRDs. Call Stop when done; a package
// starts one Env in TestMain and shares it.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith runs etcd and kube-apiserver, installs Kerf's CRDs, then starts opts.Components.
func StartWith(opts Options) (*Env, error) {
	assets := opts.Assets
	if assets == "" {
		assets = os.Getenv("KUBEBUILDER_ASSETS")
	}
	binaries := []string{"kube-apiserver", "etcd"}
	for _, c := range opts.Components {
		binaries = append(binaries, string(c))
	}
	for _, binary := range binaries {
		if _, err := os.Stat(filepath.Join(assets, binary)); assets == "" || err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(assets, binary), ErrNoAssets)
		}
	}
	crdObjects, err := crds.CustomResourceDefinitions()
	if err != nil {
		return nil, err
	}
	scheme, err := apis.NewScheme()
	if err != nil {
		return nil, err
	}
	environment := &envtest.Environment{
		CRDs:                  crdObjects,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		BinaryAssetsDirectory: assets,
	}
	// etcd is Debian's 3.4, which lacks the watch-progress requests the API server's WatchList
	// needs; with the feature on, the API server turns every watch from resourceVersion 0 (kwok
	// sends only those) into a watch-list stream and fails it at once, so kwok only saw pods
	// when its reflector relisted, seconds to half a minute late. Without it such watches are
	// ordinary ones, and client-go's watch-list requests fall back to list and watch.
	environment.ControlPlane.GetAPIServer().Configure().Append("feature-gates", "WatchList=false")
	config, err := environment.Start()
	if err != nil {
		// envtest leaves etcd and kube-apiserver running when a later step (installing the CRDs)
		// fails; stop them so a failed run leaks no processes.
		return nil, errors.Join(fmt.Errorf("starting control plane, %w", err), environment.Stop())
	}
	c, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("building client, %w", err), environment.Stop())
	}
	env := &Env{Config: config, Client: c, Scheme: scheme, environment: environment}
	if err := env.startComponents(assets, opts); err != nil {
		return nil, errors.Join(fmt.Errorf("starting control-plane components, %w", err), env.Stop())
	}
	return env, nil
}

// Stop shuts the control plane down, components first.
func (e *Env) Stop() error {
	componentsErr := e.stopComponents()
	if err := e.environment.Stop(); err != nil {
		return errors.Join(componentsErr, fmt.Errorf("stopping control plane, %w", err))
	}
	return componentsErr
}

// CRDs returns the CRDs as installed.
func (e *Env) CRDs() []*apiextensionsv1.CustomResourceDefinition { return e.environment.CRDs }

// UserConfig returns a client configuration authenticating as a new user with the given name and
// groups: with no groups it may do only what RBAC bindings grant it.
func (e *Env) UserConfig(name string, groups ...string) (*rest.Config, error) {
	user, err := e.environment.ControlPlane.AddUser(envtest.User{Name: name, Groups: groups}, nil)
	if err != nil {
		return nil, fmt.Errorf("adding user %s, %w", name, err)
	}
	return user.Config(), nil
}

// WriteKubeconfig writes a kubeconfig for the admin user to path, for binaries under test.
func (e *Env) WriteKubeconfig(path string) error {
	return e.WriteUserKubeconfig(path, "kerf-test", "system:masters")
}

// WriteUserKubeconfig writes a kubeconfig for a new user with the given name and groups to path.
func (e *Env) WriteUserKubeconfig(path, name string, groups ...string) error {
	config, err := e.UserConfig(name, groups...)
	if err != nil {
		return err
	}
	kubeconfig := clientcmdapi.NewConfig()
	kubeconfig.Clusters["envtest"] = &clientcmdapi.Cluster{Server: config.Host, CertificateAuthorityData: config.CAData}
	kubeconfig.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: config.CertData, ClientKeyData: config.KeyData}
	kubeconfig.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name}
	kubeconfig.CurrentContext = "envtest"
	if err := clientcmd.WriteToFile(*kubeconfig, path); err != nil {
		return fmt.Errorf("writing kubeconfig, %w", err)
	}
	return nil
}

// Run starts an Env for a package's tests, runs them and stops it. From TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(kubeenv.Run(m, &env)) }
func Run(m *testing.M, env **Env) int {
	started, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	*env = started
	code := m.Run()
	if err := started.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

// Eventually polls check until it returns nil, failing the test with check's last error once
// timeout passes. It is for waiting on other processes (a controller binary, a manager's
// informers); time inside the code under test is stepped with a fake clock instead.
func Eventually(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreePort returns a TCP port free on localhost now, for a process under test to listen on.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port, %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// CachedClient returns a client that reads through an informer cache with the given field
// indexes, as a manager's client does, and writes to the API server. The cache runs until ctx
// ends; the call returns once it has synced.
func (e *Env) CachedClient(ctx context.Context, addIndexes func(context.Context, client.FieldIndexer) error) (client.Client, error) {
	informers, err := cache.New(e.Config, cache.Options{Scheme: e.Scheme})
	if err != nil {
		return nil, fmt.Errorf("building cache, %w", err)
	}
	if err := addIndexes(ctx, informers); err != nil {
		return nil, err
	}
	c, err := client.New(e.Config, client.Options{Scheme: e.Scheme, Cache: &client.CacheOptions{Reader: informers}})
	if err != nil {
		return nil, fmt.Errorf("building cached client, %w", err)
	}
	go func() {
		if err := informers.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}()
	informers.WaitForCacheSync(ctx)
	return c, nil
}
