# Audit detections, the learned baseline of creations and attribution through controllers.
kc_library(kc_detections
  SRCS
    baseline.cc
    detections.cc
    object_memory.cc
    ownership.cc
  DEPS
    kc_controller
    kc_policies
    nlohmann_json::nlohmann_json)
