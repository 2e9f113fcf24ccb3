// The benchmark's open-loop load generator (./loadgen), standard library
// only. Changing anything here or in loadgen/ changes the cache key, and
// bench/src/loadgen.ts rebuilds the binary.
module berth.local/bench/tools

go 1.26.0
