#include "node/node_settings.h"

namespace kc::node {

settings::Section<NodeConfig> nodeSection() {
  using S = NodeConfig;
  using settings::field;
  return {"node",
          {
              field("name", &S::name),
              field("dockerSocket", &S::dockerSocket),
              field("containerdSocket", &S::containerdSocket),
              field("containerdNamespaces", &S::containerdNamespaces),
              field("procRoot", &S::procRoot),
              field("cgroupRoot", &S::cgroupRoot),
              field("sampleIntervalSeconds", &S::sampleIntervalSeconds),
              field("learningPeriodSeconds", &S::learningPeriodSeconds),
              field("allowedOutsideKubernetes", &S::allowedOutsideKubernetes),
              field("recheckKubernetes", &S::recheckKubernetes),
          },
          [](const S& s, settings::Errors& errors) {
            if (s.sampleIntervalSeconds != 0 &&
                (s.sampleIntervalSeconds < 1 || s.sampleIntervalSeconds > 3600))
              errors.push_back(
                  {"node.sampleIntervalSeconds", 0, "must be 0 (off) or between 1 and 3600"});
            if (s.learningPeriodSeconds < 0)
              errors.push_back({"node.learningPeriodSeconds", 0, "must be >= 0"});
          }};
}

}  // namespace kc::node
