#pragma once
/// Single source of the version: pyproject.toml reads CHRONOSCALE_VERSION_STRING from this file.
#define CHRONOSCALE_VERSION_MAJOR 0
#define CHRONOSCALE_VERSION_MINOR 1
#define CHRONOSCALE_VERSION_PATCH 0
#define CHRONOSCALE_VERSION_STRING "0.1.0"
