// Package cloudprovider is the seam between Kerf and a cloud: a small ctx-first interface
// (Create, Delete, Get, List, GetInstanceTypes, IsDrifted, Name), typed errors with New/Is/Ignore
// helpers, and a fake for unit tests. It must not import any cloud SDK.
package cloudprovider
