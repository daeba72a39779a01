// Head kind -> the decoder that reads its entry in fastkp.json.
#pragma once

#include <memory>
#include <string>

#include "../fields.h"
#include "fastkp/infer/head_decoder.h"

namespace fastkp::infer {

// The decoder for a head of `kind`, made from its entry (errors name the field);
// Unsupported when no decoder knows the kind.
std::shared_ptr<const HeadDecoder> make_head_decoder(const std::string& name, const std::string& kind,
                                                     const Fields& entry);

}  // namespace fastkp::infer
