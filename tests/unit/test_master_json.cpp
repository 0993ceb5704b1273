// The admin API's JSON, in exactly the shapes of DESIGN §6.
#include "net/master_http.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace stowage;
using json = nlohmann::ordered_json;

namespace {
std::vector<std::string> keys_of(const json& o) {
  std::vector<std::string> out;
  for (auto it = o.begin(); it != o.end(); ++it) out.push_back(it.key());
  return out;
}
} // namespace

TEST_CASE("nodes JSON", "[unit][cluster]") {
  auto j = json::parse(net::nodes_json({{"dm1", "data", true, "127.0.0.1:5011", "ab"},
                                        {"rt1", "runtime", false, "127.0.0.1:5000", ""}}));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 2);
  CHECK(keys_of(j[0]) == std::vector<std::string>{"name", "role", "state", "http", "public_key"});
  CHECK(j[0]["name"] == "dm1");
  CHECK(j[0]["role"] == "data");
  CHECK(j[0]["state"] == "up");
  CHECK(j[1]["state"] == "down");
  CHECK(j[0]["http"] == "127.0.0.1:5011");
  CHECK(json::parse(net::nodes_json({})) == json::array());
}

TEST_CASE("images JSON", "[unit][cluster]") {
  auto j = json::parse(net::images_json({{"lib/app", "v1", "sha256:aa", 3, 1000, {"dm1", "dm2"}, {"dm3"}}}));
  REQUIRE(j.size() == 1);
  CHECK(keys_of(j[0]) == std::vector<std::string>{"repository", "tag", "digest", "replicas", "pending"});
  CHECK(j[0]["replicas"] == json::array({"dm1", "dm2"}));
  CHECK(j[0]["pending"] == json::array({"dm3"}));
  auto empty = json::parse(net::images_json({{"a", "t", "sha256:bb", 1, 1, {}, {}}}));
  CHECK(empty[0]["replicas"].is_array());
  CHECK(empty[0]["pending"].is_array());
}

TEST_CASE("decisions JSON", "[unit][cluster]") {
  actors::decision d{42, "pull", "rt1", "lib/app:v1",
                     {{"dm1", 1500, 900'000'000, true}, {"dm2", 0, 0, false}}, "dm1"};
  auto j = json::parse(net::decisions_json({d}));
  REQUIRE(j.size() == 1);
  CHECK(keys_of(j[0]) == std::vector<std::string>{"id", "kind", "runtime", "reference", "candidates", "chosen"});
  CHECK(j[0]["id"] == 42);
  CHECK(j[0]["kind"] == "pull");
  REQUIRE(j[0]["candidates"].size() == 2);
  CHECK(keys_of(j[0]["candidates"][0]) == std::vector<std::string>{"node", "arrival_us", "throughput_bps", "ok"});
  CHECK(j[0]["candidates"][0]["arrival_us"] == 1500);
  CHECK(j[0]["candidates"][0]["throughput_bps"] == 900'000'000);
  CHECK(j[0]["candidates"][1]["ok"] == false);
  CHECK(j[0]["chosen"] == "dm1");
}

TEST_CASE("handoffs JSON", "[unit][cluster]") {
  auto j = json::parse(net::handoffs_json({{"sha256:cc", "lib/app", "v1", 4, "dm3", 2}}));
  REQUIRE(j.size() == 1);
  CHECK(keys_of(j[0]) == std::vector<std::string>{"digest", "repository", "node", "attempts"});
  CHECK(j[0]["node"] == "dm3");
  CHECK(j[0]["attempts"] == 2);
}

TEST_CASE("removals JSON", "[unit][cluster]") {
  auto j = json::parse(net::removals_json({{"lib/app", "v1", "", 7, "dm2"}, {"lib/app", "", "sha256:cc", 7, "dm2"}}));
  REQUIRE(j.size() == 2);
  CHECK(keys_of(j[0]) == std::vector<std::string>{"repository", "tag", "digest", "seq", "node"});
  CHECK(j[0]["tag"] == "v1");
  CHECK(j[1]["digest"] == "sha256:cc");
  CHECK(j[1]["seq"] == 7);
}

TEST_CASE("the dashboard is embedded", "[unit][cluster]") {
  auto page = net::dashboard_html();
  CHECK(page.starts_with("<!doctype html>"));
  CHECK(page.find("/api/v1/decisions") != std::string_view::npos);
  CHECK(page.find("/api/v1/removals") != std::string_view::npos);
}
