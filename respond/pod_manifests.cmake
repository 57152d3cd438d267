# The manifests of `respond isolate-pod` and `respond release-pod`: pure functions that turn a
# pod (and its owner) into YAML for `kubectl apply --server-side`; no I/O, no Kubernetes client.
kc_library(kc_respond_pod
  SRCS
    ${CMAKE_CURRENT_LIST_DIR}/pod_manifests.cc
  DEPS
    yaml-cpp)
