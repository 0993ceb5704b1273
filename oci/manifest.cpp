// Validation of manifest PUT bodies: OCI image manifest and index (image-spec
// v1.1), Docker image manifest v2 schema 2 and manifest list. Only the fields
// the registry acts on are extracted; the client's bytes are what gets stored.
#include "oci/manifest.hpp"

#include "oci/media_types.hpp"

#include <nlohmann/json.hpp>

#include <cctype>

namespace stowage::oci {
namespace {

using json = nlohmann::json;

// Deeper documents are hostile: real manifests nest four or five levels.
constexpr int max_depth = 64;

struct invalid {
  std::string message;
};

// Rejects nesting beyond max_depth before the JSON parser sees the body.
bool nesting_within_limit(std::string_view body) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > max_depth) return false;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = char(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

std::string media_type_essence(std::string_view v) {
  if (auto semi = v.find(';'); semi != std::string_view::npos) v = v.substr(0, semi);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return lower(v);
}

namespace {

bool is_index_type(std::string_view mt) { return mt == media::oci_index || mt == media::docker_manifest_list; }

const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string optional_string(const json& obj, const char* key, const std::string& where) {
  const json* v = field(obj, key);
  if (!v) return {};
  if (!v->is_string()) throw invalid{where + key + " must be a string"};
  return v->get<std::string>();
}

std::map<std::string, std::string> annotations_of(const json& obj, const std::string& where) {
  std::map<std::string, std::string> out;
  const json* a = field(obj, "annotations");
  if (!a || a->is_null()) return out;
  if (!a->is_object()) throw invalid{where + "annotations must be an object"};
  for (auto it = a->begin(); it != a->end(); ++it) {
    if (!it.value().is_string()) throw invalid{where + "annotation " + it.key() + " must be a string"};
    out.emplace(it.key(), it.value().get<std::string>());
  }
  return out;
}

descriptor descriptor_of(const json& d, const std::string& where) {
  if (!d.is_object()) throw invalid{where + " must be an object"};
  std::string prefix = where + ".";
  descriptor out;

  const json* mt = field(d, "mediaType");
  if (!mt || !mt->is_string() || mt->get_ref<const std::string&>().empty())
    throw invalid{prefix + "mediaType must be a non-empty string"};
  out.media_type = mt->get<std::string>();

  const json* dg = field(d, "digest");
  if (!dg || !dg->is_string()) throw invalid{prefix + "digest must be a string"};
  auto parsed = digest::parse(dg->get_ref<const std::string&>());
  if (!parsed) throw invalid{prefix + "digest is not a valid digest"};
  out.dig = *parsed;

  // nlohmann keeps non-negative integers as unsigned, negative ones as
  // signed, and anything with a fraction, exponent or beyond 2^64 as float.
  const json* sz = field(d, "size");
  if (!sz) throw invalid{prefix + "size is missing"};
  if (sz->is_number_unsigned()) out.size = sz->get<std::uint64_t>();
  else if (sz->is_number_integer() && sz->get<std::int64_t>() >= 0) out.size = std::uint64_t(sz->get<std::int64_t>());
  else throw invalid{prefix + "size must be a non-negative integer"};
  // Sizes travel as int64 in every client (Go); more is not a real blob.
  if (out.size > std::uint64_t(INT64_MAX)) throw invalid{prefix + "size is out of range"};

  out.artifact_type = optional_string(d, "artifactType", prefix);
  out.annotations = annotations_of(d, prefix);

  if (const json* urls = field(d, "urls"); urls && !urls->is_null()) {
    if (!urls->is_array()) throw invalid{prefix + "urls must be an array"};
    for (auto& u : *urls)
      if (!u.is_string()) throw invalid{prefix + "urls must hold strings"};
  }
  // Go clients marshal an empty byte slice as "data": null.
  if (const json* data = field(d, "data"); data && !data->is_string() && !data->is_null())
    throw invalid{prefix + "data must be a base64 string"};
  if (const json* p = field(d, "platform")) {
    if (!p->is_object()) throw invalid{prefix + "platform must be an object"};
    out.platform_os = optional_string(*p, "os", prefix + "platform.");
    out.platform_arch = optional_string(*p, "architecture", prefix + "platform.");
  }
  return out;
}

std::vector<descriptor> descriptor_list(const json& doc, const char* key, bool required) {
  std::vector<descriptor> out;
  const json* list = field(doc, key);
  if (!list) {
    if (required) throw invalid{std::string(key) + " is missing"};
    return out;
  }
  // Go's image-spec types marshal an empty list as null ("layers": null).
  if (list->is_null()) return out;
  if (!list->is_array()) throw invalid{std::string(key) + " must be an array"};
  out.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i)
    out.push_back(descriptor_of((*list)[i], std::string(key) + "[" + std::to_string(i) + "]"));
  return out;
}

// Which of the four document kinds this is: the body's mediaType, else the
// request's Content-Type, else the shape of the document.
std::string resolve_media_type(const json& doc, std::string_view content_type) {
  std::string ct = media_type_essence(content_type);
  bool ct_is_manifest = is_manifest_media_type(ct);
  if (const json* mt = field(doc, "mediaType")) {
    if (!mt->is_string()) throw invalid{"mediaType must be a string"};
    const auto& body_mt = mt->get_ref<const std::string&>();
    if (!is_manifest_media_type(body_mt)) throw invalid{"unsupported manifest mediaType " + body_mt};
    if (ct_is_manifest && ct != body_mt)
      throw invalid{"mediaType " + body_mt + " does not match Content-Type " + ct};
    return body_mt;
  }
  if (ct_is_manifest) return ct;
  if (field(doc, "manifests")) return std::string(media::oci_index);
  if (field(doc, "config")) return std::string(media::oci_manifest);
  throw invalid{"cannot tell the manifest type: no mediaType, Content-Type, config or manifests"};
}

manifest parse_document(std::string_view body, std::string_view content_type) {
  if (!nesting_within_limit(body)) throw invalid{"manifest nests too deeply"};
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) throw invalid{"manifest is not valid JSON"};
  if (!doc.is_object()) throw invalid{"manifest must be a JSON object"};

  const json* sv = field(doc, "schemaVersion");
  if (!sv || !sv->is_number_integer() || sv->get<std::int64_t>() != 2)
    throw invalid{"schemaVersion must be 2"};

  manifest m;
  m.media_type = resolve_media_type(doc, content_type);
  m.is_index = is_index_type(m.media_type);

  if (m.is_index) {
    if (field(doc, "config") || field(doc, "layers"))
      throw invalid{"an index has manifests, not config or layers"};
    m.manifests = descriptor_list(doc, "manifests", true);
  } else {
    if (field(doc, "manifests")) throw invalid{"an image manifest has config and layers, not manifests"};
    const json* cfg = field(doc, "config");
    if (!cfg) throw invalid{"config is missing"};
    m.config = descriptor_of(*cfg, "config");
    // Docker requires layers; OCI artifacts may leave them out.
    m.layers = descriptor_list(doc, "layers", m.media_type == media::docker_manifest);
  }

  if (const json* subj = field(doc, "subject"); subj && !subj->is_null()) m.subject = descriptor_of(*subj, "subject");
  m.artifact_type = optional_string(doc, "artifactType", "");
  m.annotations = annotations_of(doc, "");
  return m;
}

} // namespace

std::string manifest::effective_artifact_type() const {
  if (!artifact_type.empty()) return artifact_type;
  if (!is_index && config) return config->media_type;
  return {};
}

manifest_parse_result parse_manifest(std::string_view body, std::string_view content_type) {
  try {
    return {parse_document(body, content_type), {}};
  } catch (const invalid& e) {
    return {std::nullopt, {e.message}};
  } catch (const nlohmann::json::exception& e) {
    // Only reachable through a type slip above; still a bad manifest, not a crash.
    return {std::nullopt, {std::string("manifest is malformed: ") + e.what()}};
  }
}

bool is_manifest_media_type(std::string_view mt) {
  return mt == media::oci_manifest || mt == media::oci_index || mt == media::docker_manifest ||
         mt == media::docker_manifest_list;
}

std::vector<descriptor> manifest::blobs() const {
  std::vector<descriptor> out;
  if (config) out.push_back(*config);
  out.insert(out.end(), layers.begin(), layers.end());
  return out;
}

bool optional_layer(const descriptor& d) {
  return d.media_type.find("foreign") != std::string::npos || d.media_type.find("nondistributable") != std::string::npos;
}

} // namespace stowage::oci
