{
  "variables": {
    "sf_include_dirs": [
      "native",
      "native/include"
    ],
    "sf_cflags": [
      "-std=c++17",
      "-O3",
      "-fPIC",
      "-fno-math-errno",
      "-fexceptions",
      "-fopenmp"
    ]
  },
  "targets": [
    {
      "target_name": "sqlfocus_simd_avx2",
      "type": "static_library",
      "sources": [
        "native/cpu/matmul_avx2.cpp"
      ],
      "include_dirs": [
        "<@(sf_include_dirs)"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "<@(sf_cflags)"
      ],
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": [
            "/std:c++17"
          ]
        }
      },
      "conditions": [
        [
          "target_arch=='x64' and OS!='win'",
          {
            "cflags_cc": [
              "-mavx2",
              "-mfma",
              "-mf16c",
              "-ffp-contract=off"
            ]
          }
        ],
        [
          "target_arch=='x64' and OS=='win'",
          {
            "msvs_settings": {
              "VCCLCompilerTool": {
                "AdditionalOptions": [
                  "/arch:AVX2"
                ]
              }
            }
          }
        ]
      ]
    },
    {
      "target_name": "sqlfocus_simd_avx512",
      "type": "static_library",
      "sources": [
        "native/cpu/matmul_avx512.cpp"
      ],
      "include_dirs": [
        "<@(sf_include_dirs)"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "<@(sf_cflags)"
      ],
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": [
            "/std:c++17"
          ]
        }
      },
      "conditions": [
        [
          "target_arch=='x64' and OS!='win'",
          {
            "cflags_cc": [
              "-mavx2",
              "-mfma",
              "-mf16c",
              "-ffp-contract=off",
              "-mavx512f",
              "-mavx512dq",
              "-mavx512bw",
              "-mavx512vl",
              "-mprefer-vector-width=512"
            ]
          }
        ],
        [
          "target_arch=='x64' and OS=='win'",
          {
            "msvs_settings": {
              "VCCLCompilerTool": {
                "AdditionalOptions": [
                  "/arch:AVX512"
                ]
              }
            }
          }
        ]
      ]
    },
    {
      "target_name": "sqlfocus_simd_bf16",
      "type": "static_library",
      "sources": [
        "native/cpu/matmul_bf16.cpp"
      ],
      "include_dirs": [
        "<@(sf_include_dirs)"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "<@(sf_cflags)"
      ],
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": [
            "/std:c++17"
          ]
        }
      },
      "conditions": [
        [
          "target_arch=='x64' and OS!='win'",
          {
            "cflags_cc": [
              "-mavx2",
              "-mfma",
              "-mf16c",
              "-ffp-contract=off",
              "-mavx512f",
              "-mavx512dq",
              "-mavx512bw",
              "-mavx512vl",
              "-mprefer-vector-width=512",
              "-mavx512bf16"
            ]
          }
        ],
        [
          "target_arch=='x64' and OS=='win'",
          {
            "msvs_settings": {
              "VCCLCompilerTool": {
                "AdditionalOptions": [
                  "/arch:AVX512"
                ]
              }
            }
          }
        ]
      ]
    },
    {
      "target_name": "sqlfocus",
      "dependencies": [
        "sqlfocus_simd_avx2",
        "sqlfocus_simd_avx512",
        "sqlfocus_simd_bf16"
      ],
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/addon').filter(f=>f.endsWith('.cpp')).map(f=>'native/addon/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/core').filter(f=>f.endsWith('.cpp')).map(f=>'native/core/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f=>f.endsWith('.cpp')&&!/^matmul_(avx2|avx512|bf16)\\.cpp$/.test(f)).map(f=>'native/cpu/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/comm').filter(f=>f.endsWith('.cpp')).map(f=>'native/comm/'+f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<@(sf_include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "NAPI_CPP_EXCEPTIONS",
        "<!(node -p \"process.env.SQLFOCUS_MPI === '0' ? 'SQLFOCUS_NO_MPI=1' : 'SQLFOCUS_MPI_RUNTIME=1'\")"
      ],
      "cflags_cc!": [
        "-fno-exceptions",
        "-fno-rtti"
      ],
      "cflags_cc": [
        "<@(sf_cflags)"
      ],
      "ldflags": [
        "-fopenmp"
      ],
      "libraries": [
        "-ldl"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": [
          "-std=c++17",
          "-O3"
        ]
      },
      "msvs_settings": {
        "VCCLCompilerTool": {
          "ExceptionHandling": 1,
          "AdditionalOptions": [
            "/std:c++17"
          ]
        }
      }
    }
  ]
}
