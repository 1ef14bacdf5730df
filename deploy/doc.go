// Package deploy holds the deployment kit: the Kubernetes manifest, the
// compose playground, the Puppet class, the Datadog check and monitors, the
// Prometheus alerts and env.example. It has no code; its tests prove the kit
// works: the build script makes a static binary, Puppet refuses a bad my.cnf
// through `sidecar validate`, promtool accepts and unit-tests the alerts, and
// every file names only metrics and variables the contract defines.
package deploy
