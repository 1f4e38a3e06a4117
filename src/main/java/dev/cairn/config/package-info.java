/**
 * Cairn's configuration: one YAML file, every key overridable by an environment variable named after
 * it ({@code registry.max-manifest-bytes} → {@code CAIRN_REGISTRY_MAX_MANIFEST_BYTES}), and command-line
 * flags on top. Flags beat the environment, which beats the file, which beats the defaults.
 */
package dev.cairn.config;
