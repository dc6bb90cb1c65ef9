// The slice of NCCL's C API that sqlfocus uses, declared here so that the CUDA build compiles without nccl.h and
// the library is opened at run time (libnccl.so.2): a CUDA addon then runs on one GPU without NCCL installed.
// Values are NCCL 2.x's (stable ABI since 2.0); nccl.cpp checks them against nccl.h when that header is present.
#pragma once
#include <cstddef>

namespace sf::comm::nccl_api {

constexpr int kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
struct UniqueId {
  char internal[kUniqueIdBytes];
};
using Comm = void*;    // ncclComm_t (struct ncclComm*)
using Stream = void*;  // cudaStream_t

// ncclResult_t
constexpr int kSuccess = 0;
constexpr int kInProgress = 7;
// ncclDataType_t
constexpr int kUint8 = 1;
constexpr int kFloat32 = 7;
constexpr int kFloat64 = 8;
// ncclRedOp_t
constexpr int kSum = 0;
constexpr int kMax = 2;
constexpr int kMin = 3;

using GetVersionFn = int (*)(int* version);
using GetUniqueIdFn = int (*)(UniqueId* id);
using CommInitRankFn = int (*)(Comm* comm, int nranks, UniqueId id, int rank);
using AllReduceFn = int (*)(const void* send, void* recv, size_t count, int dtype, int op, Comm comm, Stream stream);
using AllGatherFn = int (*)(const void* send, void* recv, size_t sendcount, int dtype, Comm comm, Stream stream);
using BroadcastFn = int (*)(const void* send, void* recv, size_t count, int dtype, int root, Comm comm, Stream stream);
using CommGetAsyncErrorFn = int (*)(Comm comm, int* async_error);
using CommAbortFn = int (*)(Comm comm);
using CommDestroyFn = int (*)(Comm comm);
using GetErrorStringFn = const char* (*)(int result);

}  // namespace sf::comm::nccl_api
