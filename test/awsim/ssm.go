package awsim

import (
	"fmt"
	"strings"
	"time"
)

// ssmParameter is a public SSM parameter (the EKS-optimized AMI pointers).
type ssmParameter struct {
	Value    string
	Version  int64
	Modified time.Time
}

func (w *World) putParameterLocked(name, value string) {
	p := w.ssmParams[name]
	if p == nil {
		p = &ssmParameter{}
		w.ssmParams[name] = p
	}
	p.Value, p.Version, p.Modified = value, p.Version+1, w.now()
}

// Parameter returns an SSM parameter's current value, for tests that want the latest AMI.
func (w *World) Parameter(name string) (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	p, ok := w.ssmParams[name]
	if !ok {
		return "", false
	}
	return p.Value, true
}

type ssmParameterJSON struct {
	Name             string  `json:"Name"`
	Type             string  `json:"Type"`
	Value            string  `json:"Value"`
	Version          int64   `json:"Version"`
	LastModifiedDate float64 `json:"LastModifiedDate"`
	ARN              string  `json:"ARN"`
	DataType         string  `json:"DataType"`
}

func (w *World) ssm(op string, body []byte) (any, *apiError) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch op {
	case "GetParameter":
		var in struct{ Name string }
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		if in.Name == "" {
			return nil, sender(codeSSMValidation, "1 validation error detected: Value null at 'name' failed to satisfy constraint: Member must not be null")
		}
		p, ok := w.parameterJSON(in.Name)
		if !ok {
			return nil, &apiError{Code: codeSSMParameterNotFound, Message: "", Status: 400}
		}
		return map[string]any{"Parameter": p}, nil
	case "GetParameters":
		var in struct{ Names []string }
		if err := decodeJSON(body, &in); err != nil {
			return nil, err
		}
		if len(in.Names) == 0 || len(in.Names) > 10 {
			return nil, sender(codeSSMValidation, "1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length between 1 and 10")
		}
		found, invalid := []ssmParameterJSON{}, []string{}
		for _, n := range in.Names {
			if p, ok := w.parameterJSON(n); ok {
				found = append(found, p)
			} else {
				invalid = append(invalid, n)
			}
		}
		return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
	}
	return nil, unknownOperation(op)
}

// parameterJSON resolves a name, accepting the name:version selector SSM allows.
func (w *World) parameterJSON(name string) (ssmParameterJSON, bool) {
	base, selector, hasSel := strings.Cut(name, ":")
	p, ok := w.ssmParams[base]
	if !ok || (hasSel && selector != fmt.Sprint(p.Version)) {
		return ssmParameterJSON{}, false
	}
	dataType := "text"
	if strings.HasSuffix(base, "/image_id") {
		dataType = "aws:ec2:image" // how AWS publishes the AMI pointers
	}
	return ssmParameterJSON{Name: base, Type: "String", Value: p.Value, Version: p.Version, DataType: dataType,
		LastModifiedDate: float64(p.Modified.UnixMilli()) / 1000,
		ARN:              fmt.Sprintf("arn:aws:ssm:%s::parameter%s", w.opts.Region, base)}, true
}
