// Package e2e holds end-to-end suites that run the whole system on one machine: etcd,
// kube-apiserver, kube-scheduler, kwok, awsim and the Kerf controller.
package e2e
