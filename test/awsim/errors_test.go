package awsim

import (
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// rawPost posts a form to the server as a signed client would, returning status and body.
func rawPost(t *testing.T, e *env, body string, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260901/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00")
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

type ec2ErrorXML struct {
	Errors []struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	} `xml:"Errors>Error"`
	RequestID string `xml:"RequestID"`
}

func TestMalformedRequests_GetAWSErrorCodes(t *testing.T) {
	e := start(t, Options{})
	lt := e.launchTemplate(t, "kerf-default")
	ami, _ := e.srv.World.Parameter("/aws/service/eks/optimized-ami/1.30/amazon-linux-2/recommended/image_id")
	tests := []struct {
		name    string
		form    string
		headers map[string]string
		status  int
		code    string
	}{
		{"unknown action", "Action=DescribeUnicorns&Version=2016-11-15", nil, 400, "InvalidAction"},
		{"no action", "Version=2016-11-15", nil, 400, "MissingAction"},
		{"unsigned", "Action=DescribeInstances&Version=2016-11-15", map[string]string{"Authorization": ""}, 403, "MissingAuthenticationToken"},
		{"body is not form encoding", "Action=%zz", nil, 400, "InvalidParameterValue"},
		{"malformed instance id", "Action=DescribeInstances&InstanceId.1=web-1", nil, 400, "InvalidInstanceID.Malformed"},
		{"unknown instance id", "Action=DescribeInstances&InstanceId.1=i-0123456789abcdef0", nil, 400, "InvalidInstanceID.NotFound"},
		{"unknown filter", "Action=DescribeInstances&Filter.1.Name=colour&Filter.1.Value.1=red", nil, 400, "InvalidParameterValue"},
		{"filter without name", "Action=DescribeInstances&Filter.1.Value.1=red", nil, 400, "MissingParameter"},
		{"MaxResults not a number", "Action=DescribeInstances&MaxResults=lots", nil, 400, "InvalidParameterValue"},
		{"MaxResults below minimum", "Action=DescribeInstances&MaxResults=2", nil, 400, "InvalidParameterValue"},
		{"ids with MaxResults", "Action=DescribeInstances&MaxResults=5&InstanceId.1=i-0123456789abcdef0", nil, 400, "InvalidParameterCombination"},
		{"forged NextToken", "Action=DescribeInstanceTypes&NextToken=Zm9v", nil, 400, "InvalidPaginationToken"},
		{"token from another action", "Action=DescribeInstanceTypes&NextToken=" + encodeToken("DescribeInstances", 5), nil, 400, "InvalidPaginationToken"},
		{"unknown instance type", "Action=DescribeInstanceTypes&InstanceType.1=x9.huge", nil, 400, "InvalidInstanceType"},
		{"terminate nothing", "Action=TerminateInstances", nil, 400, "MissingParameter"},
		{"run without counts", "Action=RunInstances&ImageId=" + ami + "&InstanceType=m5.large", nil, 400, "MissingParameter"},
		{"run with malformed AMI", "Action=RunInstances&ImageId=ubuntu&InstanceType=m5.large&MinCount=1&MaxCount=1", nil, 400, "InvalidAMIID.Malformed"},
		{"run with user data not base64", "Action=RunInstances&ImageId=" + ami + "&InstanceType=m5.large&MinCount=1&MaxCount=1&UserData=%25%25%25", nil, 400, "InvalidParameterValue"},
		{"run with min above max", "Action=RunInstances&ImageId=" + ami + "&InstanceType=m5.large&MinCount=3&MaxCount=1", nil, 400, "InvalidParameterValue"},
		{"fleet too large", "Action=CreateFleet&Type=instant&TargetCapacitySpecification.TotalTargetCapacity=1000000", nil, 400, "InvalidParameterValue"},
		{"fleet without capacity", "Action=CreateFleet&Type=instant&LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId=" + lt, nil, 400, "MissingParameter"},
		{"fleet of type maintain", "Action=CreateFleet&Type=maintain&TargetCapacitySpecification.TotalTargetCapacity=1", nil, 400, "UnsupportedOperation"},
		{"fleet capacity type unknown", "Action=CreateFleet&Type=instant&TargetCapacitySpecification.TotalTargetCapacity=1&TargetCapacitySpecification.DefaultTargetCapacityType=reserved", nil, 400, "InvalidParameterValue"},
		{"fleet with unknown template", "Action=CreateFleet&Type=instant&TargetCapacitySpecification.TotalTargetCapacity=1&LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId=lt-0123456789abcdef0", nil, 400, "InvalidLaunchTemplateId.NotFound"},
		{"fleet with unknown strategy", "Action=CreateFleet&Type=instant&TargetCapacitySpecification.TotalTargetCapacity=1&TargetCapacitySpecification.DefaultTargetCapacityType=spot&SpotOptions.AllocationStrategy=cheapest&LaunchTemplateConfigs.1.LaunchTemplateSpecification.LaunchTemplateId=" + lt + "&LaunchTemplateConfigs.1.Overrides.1.InstanceType=m5.large", nil, 400, "InvalidParameterValue"},
		{"tags without tags", "Action=CreateTags&ResourceId.1=i-0123456789abcdef0", nil, 400, "MissingParameter"},
		{"reserved tag prefix", "Action=CreateTags&ResourceId.1=i-0123456789abcdef0&Tag.1.Key=aws:owner&Tag.1.Value=x", nil, 400, "InvalidParameterValue"},
		{"unknown subnet", "Action=DescribeSubnets&SubnetId.1=subnet-0123456789abcdef0", nil, 400, "InvalidSubnetID.NotFound"},
		{"unknown security group", "Action=DescribeSecurityGroups&GroupId.1=sg-0123456789abcdef0", nil, 400, "InvalidGroup.NotFound"},
		{"unknown image", "Action=DescribeImages&ImageId.1=ami-0123456789abcdef0", nil, 400, "InvalidAMIID.NotFound"},
		{"template name too short", "Action=CreateLaunchTemplate&LaunchTemplateName=x&LaunchTemplateData.ImageId=" + ami, nil, 400, "InvalidLaunchTemplateName.MalformedException"},
		{"unknown location type", "Action=DescribeInstanceTypeOfferings&LocationType=planet", nil, 400, "InvalidParameterValue"},
		{"dry run", "Action=DescribeInstances&DryRun=true", nil, 412, "DryRunOperation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := rawPost(t, e, tc.form, tc.headers)
			var doc ec2ErrorXML
			if err := xml.Unmarshal([]byte(body), &doc); err != nil || len(doc.Errors) != 1 || doc.RequestID == "" {
				t.Fatalf("not EC2 error XML (%v): %s", err, body)
			}
			if status != tc.status || doc.Errors[0].Code != tc.code {
				t.Errorf("got %d %s (%s), want %d %s", status, doc.Errors[0].Code, doc.Errors[0].Message, tc.status, tc.code)
			}
		})
	}
	t.Run("JSON protocols", func(t *testing.T) {
		for _, tc := range []struct{ target, body, code string }{
			{"AmazonSSM.GetParameter", "{", "SerializationException"},
			{"AmazonSSM.PutParameter", "{}", "UnknownOperationException"},
			{"AmazonSSM.GetParameter", "{}", "ValidationException"},
			{"AWSPriceListService.GetProducts", `{"ServiceCode":"AmazonEC2","MaxResults":1000}`, "InvalidParameterException"},
			{"AmazonSQS.SendMessage", `{"QueueUrl":"http://x/123456789012/none","MessageBody":"x"}`, "com.amazonaws.sqs#QueueDoesNotExist"},
		} {
			status, body := rawPost(t, e, tc.body, map[string]string{"X-Amz-Target": tc.target, "Content-Type": "application/x-amz-json-1.1"})
			if status != 400 || !strings.Contains(body, `"__type":"`+tc.code+`"`) {
				t.Errorf("%s %s: %d %s, want 400 %s", tc.target, tc.body, status, body, tc.code)
			}
		}
	})
}

// TestGarbageParameters_NeverServerErrors throws junk at every action: AWS answers bad input
// with a client error, and so must awsim (no 500, no dropped connection).
func TestGarbageParameters_NeverServerErrors(t *testing.T) {
	e := start(t, Options{})
	junk := []url.Values{
		{},
		{"MaxResults": {"-1"}, "NextToken": {"!!"}},
		{"InstanceId.1": {""}, "InstanceId.x": {"i-1"}, "Filter.0.Name": {"x"}},
		{"Filter.1.Name": {"tag:"}, "Filter.1.Value.1": {"[*?\\"}},
		{"TargetCapacitySpecification.TotalTargetCapacity": {"99999999999999999999"}, "Type": {"instant"}},
		{"LaunchTemplateConfigs.1.Overrides.1.WeightedCapacity": {"-3"}, "Type": {"instant"}, "TargetCapacitySpecification.TotalTargetCapacity": {"1"}},
		{"MinCount": {"1"}, "MaxCount": {"1"}, "ImageId": {"ami-"}, "LaunchTemplate.LaunchTemplateName": {"nope"}},
		{"ResourceId.1": {"lt-zz"}, "Tag.1.Key": {"k"}, "LaunchTemplateName": {strings.Repeat("n", 300)}},
	}
	for action := range NewServer(e.srv.World).ec2Actions() {
		for i, form := range junk {
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			f.Set("Action", action)
			status, body := rawPost(t, e, f.Encode(), nil)
			if status >= 500 {
				t.Errorf("%s junk %d: %d %s", action, i, status, body)
			}
		}
	}
}
