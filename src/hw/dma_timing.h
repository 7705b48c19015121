// DmaTiming: the cost model of one GPU's DMA engine for page-table updates — a plain value.
//
// Kept apart from the topology so that the engine (dma_engine.h) depends on its timing only, not on
// the configuration format that usually supplies it: a topology file's [dma] and [gpu.dma] tables
// (hw/topology/), `vkfd run --dma-latency`, or a test that sets it directly.
#pragma once

#include <cstdint>

namespace vkfd::hw {

// Cost of page-table updates on one GPU's DMA engine. Zero means "as fast as the host can".
struct DmaTiming {
  uint64_t job_latency_ns = 0;  // from the end of a job's writes to its completion (overlaps the next)
  uint64_t pte_cost_ns = 0;     // engine time per PTE written
  uint64_t job_cost_ns = 0;     // engine time per job (the next job waits for it)
  bool enabled() const { return job_latency_ns != 0 || pte_cost_ns != 0 || job_cost_ns != 0; }

  bool operator==(const DmaTiming&) const = default;
};

}  // namespace vkfd::hw
