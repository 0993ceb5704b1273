// Every message type crosses a serializer round trip as a message, which is
// what the middleman does: an unregistered type would fail here, not in
// production.
#include "fixture.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

using namespace stowage;
using namespace stowage::test;

namespace {

template <class T>
T round_trip(caf::actor_system& sys, const T& x) {
  auto msg = caf::make_message(x);
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  auto err = sink(msg);
  INFO(sys.render(err));
  REQUIRE_FALSE(err);
  caf::message out;
  caf::binary_deserializer source{sys, buf};
  err = source(out);
  INFO(sys.render(err));
  REQUIRE_FALSE(err);
  REQUIRE(out.match_element<T>(0));
  return out.get_as<T>(0);
}

} // namespace

TEST_CASE_METHOD(cluster_fixture, "every protocol message survives serialization", "[protocol][serialization]") {
  auto pair = sa::issue_proofs(*master_id, {"", "r/x", "t", 3, "rt1", "dm1", 99});
  sa::candidate_result c{"dm1", 10, 20, true};
  sa::inventory_item item{"r/x", "t", "sha256:" + std::string(64, 'a'), 4, 5};
  auto actor = sys.spawn([] { return caf::behavior{[](int) {}}; });
#define RT(...)                                                                                                        \
  do {                                                                                                                 \
    auto v = __VA_ARGS__;                                                                                              \
    CHECK(round_trip(sys, v) == v);                                                                                    \
  } while (false)
  RT(sa::join_request{"dm1", "data", "ab", "h:1", 7, {item}, "n0", "s1"});
  RT(sa::join_challenge_request{"dm1", "n1"});
  RT(sa::join_challenge{"n2", "s2"});
  RT(sa::roster{{sys.node()}});
  RT(sa::node_down{"dm3"});
  RT(sa::join_answer{"master", "cd"});
  RT(sa::connect_master{actor});
  RT(sa::first_test_request{1, "rt1", 256, 2000000});
  RT(sa::second_test_request{2, "rt1", 256, 1});
  RT(sa::third_test_request{3, "master", 256, 0});
  RT(sa::test_request_answer{4, "dm1", 9, 1});
  RT(sa::test_round_start{4, {"dm1", "dm2"}, 2000});
  RT(sa::test_round_ready{4});
  RT(sa::test_packet{4, "dm1", 256, 17});
  RT(sa::test_result{4, "rt1", {c}});
  RT(sa::pull_request{"rt1", "r/x", "t", 5, "dm2"});
  RT(sa::scheduling_request{5, "rt1", "r/x", item.digest});
  RT(sa::scheduling_answer{"dm1", true, "", 100});
  RT(sa::pull_answer{true, "", 5, "dm1", item.digest});
  RT(sa::storage_request{"rt1", "r/x", "t", item.digest, 100, 0, ""});
  RT(sa::first_proof_message{true, "", 6, pair.first, actor});
  RT(sa::second_proof_message{pair.second, {{"dm2", actor}, {"dm3", {}}}});
  RT(sa::proof_answer{"dm1", true, ""});
  RT(sa::pre_receive{"s", "r/x", "t", item.digest, 3, "dm1"});
  RT(sa::pre_receive_answer{"dm2"});
  RT(sa::push_commit{"s", "r/x", item.digest});
  RT(sa::push_ack{true, "", 2, {"dm1", "dm2"}, {"dm4"}, {"dm3"}});
  RT(sa::replication_request{"s", "r/x", "t", item.digest, 3, "dm1"});
  RT(sa::replication_answer{"dm2", false, "why"});
  RT(sa::replication_failure{"s", "r/x", "t", item.digest, 3, 100, "dm1", {"dm3"}});
  RT(sa::handoff_accepted{true, ""});
  RT(sa::delivery{"r/x", "t", item.digest, 3, {"master", {}}});
  RT(sa::delivery_answer{"dm3", true, ""});
  RT(sa::image_stored{"dm2", item});
  RT(sa::nodes_query{});
  RT(sa::nodes_answer{{{"dm1", "data", true, "h:1", "ab"}}});
  RT(sa::images_query{});
  RT(sa::images_answer{{{"r/x", "t", item.digest, 3, 100, {"dm1"}, {"dm3"}}}});
  RT(sa::decisions_query{10});
  RT(sa::decisions_answer{{{1, "pull", "rt1", "r/x:t", {c}, "dm1"}}});
  RT(sa::handoffs_query{});
  RT(sa::handoffs_answer{{{item.digest, "r/x", "t", 3, "dm3", 2}}});
  RT(sa::pull_image{"r/x", "t", true});
  RT(sa::pull_done{true, "", item.digest, "dm1", 1});
  RT(sa::push_image{"r/x", "t", item.digest});
  RT(sa::push_done{true, "", "dm1", 3, "s", {true, "", 2, {"dm1"}, {}, {"dm2"}}});
  RT(sa::transfer_done{1, false, "e", 401, 0, true, item.digest});
  RT(sa::round_deadline{4});
  RT(sa::retry_tick{1});
  RT(sa::flush_decisions{});
  RT(sa::check_blob{"r/x", item.digest});
  RT(sa::copy_dropped{item.digest});
#undef RT
  caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
}
