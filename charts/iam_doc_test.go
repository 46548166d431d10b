package charts_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kerf-autoscaler/kerf/pkg/cloudprovider/aws"
)

// The chart README's IAM policy is what operators paste into their role: every AWS call the
// provider can make must be in it, or Kerf fails in their account with AccessDenied.
func TestChartREADME_IAMPolicyAllowsEveryCallKerfMakes(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chart, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for service, api := range map[string]reflect.Type{
		"ec2":     reflect.TypeFor[aws.EC2API](),
		"ssm":     reflect.TypeFor[aws.SSMAPI](),
		"pricing": reflect.TypeFor[aws.PricingAPI](),
		"sqs":     reflect.TypeFor[aws.SQSAPI](),
	} {
		for i := range api.NumMethod() {
			action := service + ":" + api.Method(i).Name
			if !strings.Contains(string(readme), `"`+action+`"`) {
				t.Errorf("the IAM policy in %s/README.md does not allow %s", chart, action)
			}
		}
	}
}
