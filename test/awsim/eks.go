package awsim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// eksServiceCIDR is the Kubernetes service range of the world's cluster: the default EKS picks
// when a cluster is created without one.
const eksServiceCIDR = "10.100.0.0/16"

// serveEKS answers the one EKS call Kerf makes, DescribeCluster (REST-JSON: GET
// /clusters/{name}), for the cluster the world's subnets are tagged for; any other name is EKS's
// ResourceNotFoundException.
func (s *Server) serveEKS(rw http.ResponseWriter, r *http.Request, reqID string) {
	name := strings.TrimPrefix(r.URL.Path, "/clusters/")
	if r.Method != http.MethodGet || name == "" || strings.Contains(name, "/") {
		writeError(rw, protoJSON, reqID, "", &apiError{Code: "UnknownOperationException",
			Message: fmt.Sprintf("%s %s is not an operation awsim serves", r.Method, r.URL.Path), Status: http.StatusNotFound})
		return
	}
	if aerr := s.admit(r, protoJSON, "DescribeCluster"); aerr != nil {
		writeError(rw, protoJSON, reqID, "", aerr)
		return
	}
	w := s.world
	if name != w.opts.ClusterName {
		writeError(rw, protoJSON, reqID, "", &apiError{Code: "ResourceNotFoundException",
			Message: fmt.Sprintf("No cluster found for name: %s.", name), Status: http.StatusNotFound})
		return
	}
	endpoint, ca := w.opts.ClusterEndpoint, w.opts.ClusterCA
	if endpoint == "" {
		endpoint = fmt.Sprintf("https://%X.gr7.%s.eks.amazonaws.com", hash64(w.opts.Seed, "eks", name), w.opts.Region)
	}
	if ca == "" {
		ca = base64.StdEncoding.EncodeToString([]byte("-----BEGIN CERTIFICATE-----\nawsim\n-----END CERTIFICATE-----\n"))
	}
	writeJSON(rw, reqID, "application/json", map[string]any{"cluster": map[string]any{
		"name":                    name,
		"arn":                     fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", w.opts.Region, w.opts.AccountID, name),
		"status":                  "ACTIVE",
		"endpoint":                endpoint,
		"certificateAuthority":    map[string]string{"data": ca},
		"kubernetesNetworkConfig": map[string]string{"serviceIpv4Cidr": eksServiceCIDR, "ipFamily": "ipv4"},
	}})
}
