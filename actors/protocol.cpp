#include "actors/protocol.hpp"

#include <caf/actor_system_config.hpp>

namespace stowage::actors {

std::string join_challenge_bytes(const std::string& name, const std::string& node_nonce,
                                 const std::string& master_nonce) {
  return "stowage-join-challenge/1\n" + name + "\n" + node_nonce + "\n" + master_nonce;
}

std::string join_bytes(const join_request& j) {
  return "stowage-join/1\n" + j.name + "\n" + j.role + "\n" + j.public_key + "\n" + j.http + "\n" + j.nonce;
}

void add_protocol_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<candidate_result>("stowage::candidate_result");
  cfg.add_message_type<decision>("stowage::decision");
  cfg.add_message_type<node_record>("stowage::node_record");
  cfg.add_message_type<image_record>("stowage::image_record");
  cfg.add_message_type<handoff_record>("stowage::handoff_record");
  cfg.add_message_type<inventory_item>("stowage::inventory_item");
  cfg.add_message_type<removal_record>("stowage::removal_record");
  cfg.add_message_type<proof_scope>("stowage::proof_scope");
  cfg.add_message_type<join_challenge_request>("stowage::join_challenge_request");
  cfg.add_message_type<join_challenge>("stowage::join_challenge");
  cfg.add_message_type<join_request>("stowage::join_request");
  cfg.add_message_type<roster>("stowage::roster");
  cfg.add_message_type<node_down>("stowage::node_down");
  cfg.add_message_type<join_answer>("stowage::join_answer");
  cfg.add_message_type<connect_master>("stowage::connect_master");
  cfg.add_message_type<test_request_answer>("stowage::test_request_answer");
  cfg.add_message_type<test_round_start>("stowage::test_round_start");
  cfg.add_message_type<test_round_ready>("stowage::test_round_ready");
  cfg.add_message_type<test_packet>("stowage::test_packet");
  cfg.add_message_type<test_result>("stowage::test_result");
  cfg.add_message_type<pull_request>("stowage::pull_request");
  cfg.add_message_type<scheduling_request>("stowage::scheduling_request");
  cfg.add_message_type<scheduling_answer>("stowage::scheduling_answer");
  cfg.add_message_type<pull_answer>("stowage::pull_answer");
  cfg.add_message_type<pull_scheduled>("stowage::pull_scheduled");
  cfg.add_message_type<storage_request>("stowage::storage_request");
  cfg.add_message_type<first_proof_message>("stowage::first_proof_message");
  cfg.add_message_type<peer_ref>("stowage::peer_ref");
  cfg.add_message_type<second_proof_message>("stowage::second_proof_message");
  cfg.add_message_type<proof_answer>("stowage::proof_answer");
  cfg.add_message_type<pre_receive>("stowage::pre_receive");
  cfg.add_message_type<pre_receive_answer>("stowage::pre_receive_answer");
  cfg.add_message_type<push_commit>("stowage::push_commit");
  cfg.add_message_type<push_ack>("stowage::push_ack");
  cfg.add_message_type<name_push>("stowage::name_push");
  cfg.add_message_type<blob_landed>("stowage::blob_landed");
  cfg.add_message_type<replicate_blob>("stowage::replicate_blob");
  cfg.add_message_type<push_named>("stowage::push_named");
  cfg.add_message_type<replication_request>("stowage::replication_request");
  cfg.add_message_type<replication_answer>("stowage::replication_answer");
  cfg.add_message_type<replication_failure>("stowage::replication_failure");
  cfg.add_message_type<handoff_accepted>("stowage::handoff_accepted");
  cfg.add_message_type<delivery>("stowage::delivery");
  cfg.add_message_type<delivery_answer>("stowage::delivery_answer");
  cfg.add_message_type<image_stored>("stowage::image_stored");
  cfg.add_message_type<nodes_answer>("stowage::nodes_answer");
  cfg.add_message_type<images_answer>("stowage::images_answer");
  cfg.add_message_type<decisions_query>("stowage::decisions_query");
  cfg.add_message_type<decisions_answer>("stowage::decisions_answer");
  cfg.add_message_type<handoffs_answer>("stowage::handoffs_answer");
  cfg.add_message_type<removals_query>("stowage::removals_query");
  cfg.add_message_type<removals_answer>("stowage::removals_answer");
  cfg.add_message_type<tags_query>("stowage::tags_query");
  cfg.add_message_type<tags_answer>("stowage::tags_answer");
  cfg.add_message_type<repositories_query>("stowage::repositories_query");
  cfg.add_message_type<repositories_answer>("stowage::repositories_answer");
  cfg.add_message_type<set_tags>("stowage::set_tags");
  cfg.add_message_type<delete_image>("stowage::delete_image");
  cfg.add_message_type<delete_done>("stowage::delete_done");
  cfg.add_message_type<apply_removals>("stowage::apply_removals");
  cfg.add_message_type<removals_applied>("stowage::removals_applied");
  cfg.add_message_type<pull_image>("stowage::pull_image");
  cfg.add_message_type<pull_done>("stowage::pull_done");
  cfg.add_message_type<open_push>("stowage::open_push");
  cfg.add_message_type<blob_pushed>("stowage::blob_pushed");
  cfg.add_message_type<blob_arriving>("stowage::blob_arriving");
  cfg.add_message_type<push_image>("stowage::push_image");
  cfg.add_message_type<push_done>("stowage::push_done");
  cfg.add_message_type<transfer_done>("stowage::transfer_done");
  cfg.add_message_type<round_deadline>("stowage::round_deadline");
  cfg.add_message_type<retry_tick>("stowage::retry_tick");
  cfg.add_message_type<flush_decisions>("stowage::flush_decisions");
  cfg.add_message_type<check_blob>("stowage::check_blob");
  cfg.add_message_type<copy_dropped>("stowage::copy_dropped");
  cfg.add_message_type<first_test_request>("stowage::first_test_request");
  cfg.add_message_type<second_test_request>("stowage::second_test_request");
  cfg.add_message_type<third_test_request>("stowage::third_test_request");
  cfg.add_message_type<nodes_query>("stowage::nodes_query");
  cfg.add_message_type<images_query>("stowage::images_query");
  cfg.add_message_type<handoffs_query>("stowage::handoffs_query");
}

} // namespace stowage::actors
