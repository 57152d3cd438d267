#pragma once
// Test helpers: YAML text to a simdjson element (kept alive by the fixture) and to a PodModel.

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "policies/pod_spec.h"
#include "policies/yaml_json.h"

namespace kc::policy::testing {

// Owns the parser so that elements and models built from it stay valid.
class Doc {
 public:
  explicit Doc(std::string_view yaml) {
    std::vector<std::string> docs;
    YamlError err;
    REQUIRE(yamlToJsonStrings(yaml, docs, err));
    REQUIRE(docs.size() == 1);
    json_ = docs[0];
    REQUIRE(parser_.parse(json_).get(root_) == simdjson::SUCCESS);
  }
  simdjson::dom::element root() const { return root_; }
  PodModel pod() const {
    PodModel m;
    REQUIRE(extractPod(root_, "", m) == ExtractStatus::kOk);
    return m;
  }

 private:
  std::string json_;
  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

}  // namespace kc::policy::testing
