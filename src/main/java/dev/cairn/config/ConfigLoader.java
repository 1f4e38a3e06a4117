package dev.cairn.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/** Builds a {@link CairnConfig} from defaults, a YAML file, the environment and flags, in that order of strength. */
public final class ConfigLoader {

    /** A config key: its name, default, and how it is shown. */
    record Key(String name, String defaultValue, Function<CairnConfig, String> shower) {
        String envName() {
            return "CAIRN_" + name.toUpperCase(Locale.ROOT).replace('.', '_').replace('-', '_');
        }

        String show(CairnConfig config) {
            return shower.apply(config);
        }
    }

    static final List<Key> KEYS = List.of(
            new Key("listen", ":5000", c -> (c.listenHost().isEmpty() ? "" : c.listenHost()) + ":" + c.listenPort()),
            new Key("data-dir", "./cairn-data", c -> c.dataDir().toString()),
            new Key("storage.type", "file", c -> c.storage().storageType().name().toLowerCase(Locale.ROOT)),
            new Key("storage.s3.bucket", "", c -> s3(c, StorageSettings.S3::bucket)),
            new Key("storage.s3.prefix", "", c -> s3(c, StorageSettings.S3::prefix)),
            new Key("storage.s3.region", "us-east-1", c -> s3(c, StorageSettings.S3::region)),
            new Key("storage.s3.endpoint", "", c -> s3(c, s3 -> s3.endpoint().map(Object::toString).orElse("(AWS)"))),
            new Key("storage.s3.path-style", "false", c -> s3(c, s3 -> Boolean.toString(s3.pathStyle()))),
            new Key("storage.s3.access-key", "", c -> s3(c, s3 -> s3.accessKey().isPresent() ? "(set)" : "(the AWS SDK's default chain)")),
            new Key("storage.s3.secret-key", "", c -> s3(c, s3 -> s3.secretKey().isPresent() ? "(set)" : "")),
            new Key("storage.s3.part-size", "8MiB", c -> s3(c, s3 -> Quantities.formatSize(s3.partSize()))),
            new Key("storage.s3.max-connections", "64", c -> s3(c, s3 -> Integer.toString(s3.maxConnections()))),
            new Key("storage.redirect", "false", c -> Boolean.toString(c.storage().redirect())),
            new Key("metadata.type", "sqlite", c -> c.storage().metadataType().name().toLowerCase(Locale.ROOT)),
            new Key("metadata.postgres.url", "", c -> c.storage().postgres().map(StorageSettings.Postgres::redactedUrl).orElse("")),
            new Key("metadata.postgres.user", "", c -> c.storage().postgres().map(StorageSettings.Postgres::user).orElse("")),
            new Key("metadata.postgres.password", "", c -> c.storage().postgres().flatMap(StorageSettings.Postgres::password).map(p -> "(set)").orElse("")),
            new Key("metadata.postgres.pool-size", "16", c -> c.storage().postgres().map(p -> Integer.toString(p.poolSize())).orElse("")),
            new Key("registry.max-manifest-bytes", "16MiB", c -> Quantities.formatSize(c.maxManifestBytes())),
            new Key("registry.last-use-flush-interval", "10s", c -> Quantities.formatDuration(c.lastUseFlushInterval())),
            new Key("registry.upload-expiry", "24h", c -> Quantities.formatDuration(c.uploadExpiry())),
            new Key("registry.max-upload-sessions-per-client", "1000", c -> Integer.toString(c.maxUploadSessionsPerClient())),
            new Key("cache.max-entry-bytes", "512MiB", c -> Quantities.formatSize(c.maxEntryBytes())),
            new Key("retention.max-bytes", "auto", c -> c.retention().maxBytes().map(Quantities::formatSize).orElse("auto")),
            new Key("retention.high-watermark", "95%", c -> percent(c.retention().highWatermark())),
            new Key("retention.low-watermark", "85%", c -> percent(c.retention().lowWatermark())),
            new Key("retention.hard-limit", "false", c -> Boolean.toString(c.retention().hardLimit())),
            new Key("retention.grace", "1h", c -> Quantities.formatDuration(c.retention().grace())),
            new Key("retention.gc-interval", "5m", c -> Quantities.formatDuration(c.retention().gcInterval())),
            new Key("retention.untagged", "delete-after 1h", c -> c.retention().untaggedAfter()
                    .map(d -> "delete-after " + Quantities.formatDuration(d)).orElse("keep")),
            new Key("retention.rules", "[]", c -> RetentionSettings.describeRules(c.retention().rules())),
            new Key("auth.mode", "none", c -> c.auth().mode().name().toLowerCase(Locale.ROOT)),
            new Key("auth.htpasswd", "", c -> c.auth().htpasswd().map(Path::toString).orElse("")),
            new Key("auth.groups", "{}", c -> c.auth().policy().groups().toString()),
            new Key("auth.rules", "[]", c -> c.auth().policy().rules().size() + " rule(s)"),
            new Key("auth.admins", "{}", c -> "users " + c.auth().policy().adminUsers() + ", groups " + c.auth().policy().adminGroups()),
            new Key("auth.token.service", "cairn", c -> c.auth().tokenService()),
            new Key("auth.token.ttl", "5m", c -> Quantities.formatDuration(c.auth().tokenTtl())),
            new Key("auth.token.key", "", c -> c.auth().tokenKey().map(Path::toString).orElse("(generated under the data directory)")),
            new Key("auth.token.realm", "", c -> c.auth().tokenRealm().orElse("(this server's /token)")),
            new Key("auth.token.external-issuer", "", c -> c.auth().externalIssuer().orElse("")),
            new Key("auth.token.external-key", "", c -> c.auth().externalIssuerKey().map(Path::toString).orElse("")),
            new Key("auth.max-failures", "10", c -> Integer.toString(c.auth().maxFailures())),
            new Key("auth.failure-window", "1m", c -> Quantities.formatDuration(c.auth().failureWindow())),
            new Key("auth.cooldown", "1m", c -> Quantities.formatDuration(c.auth().cooldown())),
            new Key("tls.cert", "", c -> c.tls().cert().map(Path::toString).orElse("")),
            new Key("tls.key", "", c -> c.tls().key().map(p -> "(set)").orElse("")),
            new Key("tls.client-ca", "", c -> c.tls().clientCa().map(Path::toString).orElse("")),
            new Key("tls.client-crl", "", c -> c.tls().clientCrl().map(Path::toString).orElse("")),
            new Key("tls.reload-check", "5s", c -> Quantities.formatDuration(c.tls().reloadCheck())),
            new Key("log.format", "text", c -> c.logFormat().name().toLowerCase(Locale.ROOT)),
            new Key("log.access", "true", c -> Boolean.toString(c.accessLog())),
            new Key("server.shutdown-timeout", "30s", c -> Quantities.formatDuration(c.shutdownTimeout())),
            new Key("server.trusted-proxies", "[]", c -> c.trustedProxies().toString()),
            new Key("replicate", "[]", c -> c.replication().stream().map(r -> r.name() + " every " + Quantities.formatDuration(r.every())).toList().toString()),
            new Key("mirrors", "[]", c -> c.mirrors().stream().map(m -> (m.isDefault() ? "(default)" : m.prefix()) + " <- " + m.upstream().url() + " ttl "
                    + Quantities.formatDuration(m.ttl()) + " max-stale " + Quantities.formatDuration(m.maxStale())).toList().toString()));

    /** Keys whose value is a YAML list or mapping rather than a single value. */
    private static final Set<String> STRUCTURED_KEYS = Set.of("retention.rules", "auth.rules", "auth.groups", "auth.admins",
            "server.trusted-proxies", "replicate", "mirrors");

    private ConfigLoader() {
    }

    /** The resolved configuration and where each value came from. */
    public record Loaded(CairnConfig config, ConfigSources sources) {
    }

    /**
     * @param file  the YAML file, if any
     * @param env   the process environment (only {@code CAIRN_*} names are read)
     * @param flags key → value from the command line
     */
    public static Loaded load(Optional<Path> file, Map<String, String> env, Map<String, String> flags) {
        Map<String, String> values = new LinkedHashMap<>();
        Map<String, String> sources = new HashMap<>();
        KEYS.forEach(k -> values.put(k.name(), k.defaultValue()));
        if (file.isPresent()) {
            readYaml(file.get()).forEach((k, v) -> {
                values.put(k, v);
                sources.put(k, "file " + file.get());
            });
        }
        for (Key key : KEYS) {
            String fromEnv = env.get(key.envName());
            if (fromEnv != null && !fromEnv.isBlank()) {
                values.put(key.name(), fromEnv);
                sources.put(key.name(), "env " + key.envName());
            }
        }
        flags.forEach((k, v) -> {
            values.put(k, v);
            sources.put(k, "flag");
        });
        return new Loaded(build(values), new ConfigSources(sources));
    }

    private static CairnConfig build(Map<String, String> v) {
        String listen = v.get("listen");
        int colon = listen.lastIndexOf(':');
        if (colon < 0) throw new ConfigException("listen: expected HOST:PORT or :PORT, got '" + listen + "'");
        String host = listen.substring(0, colon);
        if (host.startsWith("[") && host.endsWith("]")) host = host.substring(1, host.length() - 1);
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new ConfigException("listen: port must be a number, got '" + listen + "'");
        }
        if (port < 0 || port > 65535) throw new ConfigException("listen: port out of range: " + port);

        long maxManifest = size(v, "registry.max-manifest-bytes");
        if (maxManifest < 4096 || maxManifest > (1L << 30)) {
            throw new ConfigException("registry.max-manifest-bytes: must be between 4KiB and 1GiB");
        }
        Duration flush = duration(v, "registry.last-use-flush-interval");
        if (flush.isZero() || flush.isNegative()) throw new ConfigException("registry.last-use-flush-interval: must be positive");
        RetentionSettings retention = retention(v);
        AuthSettings auth = auth(v);
        TlsSettings tls = tls(v);
        Duration uploadExpiry = duration(v, "registry.upload-expiry");
        if (uploadExpiry.isZero()) throw new ConfigException("registry.upload-expiry: must be positive");
        int maxSessions;
        try {
            maxSessions = Integer.parseInt(v.get("registry.max-upload-sessions-per-client").strip());
        } catch (NumberFormatException e) {
            throw new ConfigException("registry.max-upload-sessions-per-client: expected a whole number");
        }
        if (maxSessions < 1) throw new ConfigException("registry.max-upload-sessions-per-client: must be at least 1");
        long maxEntry = size(v, "cache.max-entry-bytes");
        if (maxEntry < 1) throw new ConfigException("cache.max-entry-bytes: must be at least 1 byte");
        return new CairnConfig(host, port, Path.of(v.get("data-dir")),
                storage(v),
                maxManifest, flush, uploadExpiry, maxSessions, maxEntry, retention, auth, tls,
                choice(v, "log.format", CairnConfig.LogFormat.class),
                bool(v, "log.access"),
                duration(v, "server.shutdown-timeout"),
                trustedProxies(v.get("server.trusted-proxies")),
                ReplicationRule.parse(v.get("replicate")),
                MirrorRule.parse(v.get("mirrors")));
    }

    /** A YAML or JSON list of addresses and CIDR ranges, or (as an environment variable likes it) a comma-separated one. */
    static List<AddressRange> trustedProxies(String text) {
        List<String> items = new ArrayList<>();
        String t = text.strip();
        if (t.startsWith("[")) {
            try {
                for (JsonNode item : new ObjectMapper(new YAMLFactory()).readTree(t)) items.add(item.asText());
            } catch (IOException e) {
                throw new ConfigException("server.trusted-proxies: not a list of addresses: " + e.getMessage());
            }
        } else if (!t.isEmpty()) {
            items.addAll(List.of(t.split(",")));
        }
        List<AddressRange> ranges = new ArrayList<>();
        for (String item : items) {
            try {
                ranges.add(AddressRange.parse(item));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("server.trusted-proxies: " + e.getMessage());
            }
        }
        return List.copyOf(ranges);
    }

    private static String s3(CairnConfig c, Function<StorageSettings.S3, String> field) {
        return c.storage().s3().map(field).orElse("");
    }

    /** The blob and metadata stores; only the combinations Cairn supports get through. */
    private static StorageSettings storage(Map<String, String> v) {
        var storageType = choice(v, "storage.type", CairnConfig.StorageType.class);
        var metadataType = choice(v, "metadata.type", CairnConfig.MetadataType.class);
        if (storageType == CairnConfig.StorageType.FILE && metadataType == CairnConfig.MetadataType.POSTGRES) {
            throw new ConfigException("storage.type file with metadata.type postgres is not supported: nodes that share a database "
                    + "must share their blobs too, and files are local to one node. Use storage.type s3 with metadata.type postgres "
                    + "(many nodes), or file with sqlite (one node). Supported: file + sqlite, s3 + sqlite, s3 + postgres.");
        }
        Optional<StorageSettings.S3> s3 = Optional.empty();
        if (storageType == CairnConfig.StorageType.S3) {
            String bucket = optional(v, "storage.s3.bucket")
                    .orElseThrow(() -> new ConfigException("storage.type s3 needs storage.s3.bucket"));
            Optional<URI> endpoint = optional(v, "storage.s3.endpoint").map(text -> {
                try {
                    URI uri = new URI(text);
                    if (!"http".equals(uri.getScheme()) && !"https".equals(uri.getScheme()) || uri.getHost() == null) {
                        throw new URISyntaxException(text, "expected http(s)://host[:port]");
                    }
                    return uri;
                } catch (URISyntaxException e) {
                    throw new ConfigException("storage.s3.endpoint: " + e.getMessage());
                }
            });
            Optional<String> accessKey = optional(v, "storage.s3.access-key");
            Optional<String> secretKey = optional(v, "storage.s3.secret-key");
            if (accessKey.isPresent() != secretKey.isPresent()) {
                throw new ConfigException("storage.s3.access-key and storage.s3.secret-key go together "
                        + "(or leave both out to use the AWS SDK's default credential chain)");
            }
            long partSize = size(v, "storage.s3.part-size");
            if (partSize < (5L << 20) || partSize > (512L << 20)) {
                throw new ConfigException("storage.s3.part-size: must be between 5MiB (S3's smallest part) and 512MiB");
            }
            int maxConnections = wholeNumber(v, "storage.s3.max-connections", 1, 10_000);
            s3 = Optional.of(new StorageSettings.S3(bucket, v.get("storage.s3.prefix").strip(), v.get("storage.s3.region").strip(),
                    endpoint, bool(v, "storage.s3.path-style"), accessKey, secretKey, partSize, maxConnections));
        }
        Optional<StorageSettings.Postgres> postgres = Optional.empty();
        if (metadataType == CairnConfig.MetadataType.POSTGRES) {
            String url = optional(v, "metadata.postgres.url")
                    .orElseThrow(() -> new ConfigException("metadata.type postgres needs metadata.postgres.url (jdbc:postgresql://host:port/database)"));
            if (!url.startsWith("jdbc:postgresql:")) {
                throw new ConfigException("metadata.postgres.url: expected jdbc:postgresql://host:port/database");
            }
            postgres = Optional.of(new StorageSettings.Postgres(url, v.get("metadata.postgres.user").strip(),
                    optional(v, "metadata.postgres.password"), wholeNumber(v, "metadata.postgres.pool-size", 2, 1000)));
        }
        boolean redirect = bool(v, "storage.redirect");
        if (redirect && storageType != CairnConfig.StorageType.S3) {
            throw new ConfigException("storage.redirect needs storage.type s3 (local files have no URL of their own to redirect to)");
        }
        return new StorageSettings(storageType, metadataType, s3, postgres, redirect);
    }

    private static int wholeNumber(Map<String, String> v, String key, int min, int max) {
        try {
            int value = Integer.parseInt(v.get(key).strip());
            if (value < min || value > max) throw new NumberFormatException();
            return value;
        } catch (NumberFormatException e) {
            throw new ConfigException(key + ": expected a whole number between " + min + " and " + max + ", got '" + v.get(key) + "'");
        }
    }

    private static RetentionSettings retention(Map<String, String> v) {
        Optional<Long> maxBytes = v.get("retention.max-bytes").strip().equalsIgnoreCase("auto")
                ? Optional.empty() : Optional.of(size(v, "retention.max-bytes"));
        double high = fraction(v, "retention.high-watermark");
        double low = fraction(v, "retention.low-watermark");
        if (low > high) throw new ConfigException("retention.low-watermark must not be above retention.high-watermark");
        String untagged = v.get("retention.untagged").strip();
        Optional<Duration> untaggedAfter;
        if (untagged.equalsIgnoreCase("keep")) {
            untaggedAfter = Optional.empty();
        } else if (untagged.startsWith("delete-after ")) {
            try {
                untaggedAfter = Optional.of(Quantities.parseDuration(untagged.substring("delete-after ".length())));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("retention.untagged: " + e.getMessage());
            }
        } else {
            throw new ConfigException("retention.untagged: expected 'keep' or 'delete-after DURATION', got '" + untagged + "'");
        }
        return new RetentionSettings(maxBytes, high, low, bool(v, "retention.hard-limit"), duration(v, "retention.grace"),
                duration(v, "retention.gc-interval"), untaggedAfter, RetentionSettings.parseRules(v.get("retention.rules")));
    }

    private static AuthSettings auth(Map<String, String> v) {
        var mode = choice(v, "auth.mode", dev.cairn.auth.Gatekeeper.Mode.class);
        Optional<Path> htpasswd = path(v, "auth.htpasswd");
        if (mode != dev.cairn.auth.Gatekeeper.Mode.NONE && htpasswd.isEmpty() && v.get("auth.token.external-key").isBlank()) {
            throw new ConfigException("auth.mode " + v.get("auth.mode") + " needs auth.htpasswd (users) or an external token issuer");
        }
        Set<String>[] admins = AuthSettings.parseAdmins(v.get("auth.admins"));
        var policy = new dev.cairn.auth.AccessPolicy(AuthSettings.parseGroups(v.get("auth.groups")),
                AuthSettings.parseRules(v.get("auth.rules")), admins[0], admins[1]);
        Optional<String> externalIssuer = optional(v, "auth.token.external-issuer");
        Optional<Path> externalKey = path(v, "auth.token.external-key");
        if (externalIssuer.isPresent() != externalKey.isPresent()) {
            throw new ConfigException("auth.token.external-issuer and auth.token.external-key go together");
        }
        int maxFailures;
        try {
            maxFailures = Integer.parseInt(v.get("auth.max-failures").strip());
        } catch (NumberFormatException e) {
            throw new ConfigException("auth.max-failures: expected a whole number");
        }
        return new AuthSettings(mode, htpasswd, policy, v.get("auth.token.service").strip(), duration(v, "auth.token.ttl"),
                path(v, "auth.token.key"), optional(v, "auth.token.realm"), externalIssuer, externalKey,
                maxFailures, duration(v, "auth.failure-window"), duration(v, "auth.cooldown"));
    }

    private static TlsSettings tls(Map<String, String> v) {
        Optional<Path> cert = path(v, "tls.cert");
        Optional<Path> key = path(v, "tls.key");
        if (cert.isPresent() != key.isPresent()) throw new ConfigException("tls.cert and tls.key go together");
        Optional<Path> clientCa = path(v, "tls.client-ca");
        if (clientCa.isPresent() && cert.isEmpty()) throw new ConfigException("tls.client-ca needs tls.cert and tls.key");
        Optional<Path> clientCrl = path(v, "tls.client-crl");
        if (clientCrl.isPresent() && clientCa.isEmpty()) throw new ConfigException("tls.client-crl needs tls.client-ca");
        return new TlsSettings(cert, key, clientCa, clientCrl, duration(v, "tls.reload-check"));
    }

    private static Optional<String> optional(Map<String, String> v, String key) {
        String value = v.get(key);
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(value.strip());
    }

    private static Optional<Path> path(Map<String, String> v, String key) {
        return optional(v, key).map(Path::of);
    }

    private static double fraction(Map<String, String> v, String key) {
        String text = v.get(key).strip();
        try {
            double value = text.endsWith("%") ? Double.parseDouble(text.substring(0, text.length() - 1)) / 100 : Double.parseDouble(text);
            if (!(value > 0 && value <= 1)) throw new NumberFormatException();
            return value;
        } catch (NumberFormatException e) {
            throw new ConfigException(key + ": expected a percentage between 0% and 100%, got '" + text + "'");
        }
    }

    static String percent(double fraction) {
        double p = fraction * 100;
        return (p == Math.rint(p) ? String.valueOf((long) p) : String.valueOf(p)) + "%";
    }

    private static Map<String, String> readYaml(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper(new YAMLFactory()).readTree(Files.readAllBytes(file));
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            // Never the parser's own message: it quotes the file, which may hold the S3 secret or the database password.
            String problem = e.getCause() instanceof org.yaml.snakeyaml.error.MarkedYAMLException yaml && yaml.getProblem() != null
                    ? yaml.getProblem() : "not valid YAML";
            var where = e.getLocation();
            throw new ConfigException("cannot read config file " + file + (where == null ? "" : " at line " + where.getLineNr()
                    + ", column " + where.getColumnNr()) + ": " + problem);
        } catch (IOException e) {
            throw new ConfigException("cannot read config file " + file + ": " + e.getMessage());
        }
        Map<String, String> flat = new LinkedHashMap<>();
        if (root == null || root.isNull() || root.isMissingNode()) return flat;
        if (!root.isObject()) throw new ConfigException(file + ": the top level must be a mapping");
        flatten("", root, flat);
        List<String> unknown = new ArrayList<>();
        for (String key : flat.keySet()) {
            if (KEYS.stream().noneMatch(k -> k.name().equals(key))) unknown.add(key);
        }
        if (!unknown.isEmpty()) {
            throw new ConfigException(file + ": unknown key(s) " + unknown + "; known keys: "
                    + KEYS.stream().map(Key::name).toList());
        }
        return flat;
    }

    private static void flatten(String prefix, JsonNode node, Map<String, String> out) {
        for (var entry : node.properties()) {
            String key = prefix.isEmpty() ? entry.getKey() : prefix + "." + entry.getKey();
            if (STRUCTURED_KEYS.contains(key)) {
                out.put(key, entry.getValue().toString()); // a list or mapping, parsed as a whole
            } else if (entry.getValue().isObject()) {
                flatten(key, entry.getValue(), out);
            } else if (entry.getValue().isValueNode()) {
                out.put(key, entry.getValue().asText());
            } else {
                throw new ConfigException(key + ": expected a single value");
            }
        }
    }

    private static long size(Map<String, String> v, String key) {
        try {
            return Quantities.parseSize(v.get(key));
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new ConfigException(key + ": " + e.getMessage());
        }
    }

    private static Duration duration(Map<String, String> v, String key) {
        try {
            return Quantities.parseDuration(v.get(key));
        } catch (IllegalArgumentException e) {
            throw new ConfigException(key + ": " + e.getMessage());
        }
    }

    private static boolean bool(Map<String, String> v, String key) {
        return switch (v.get(key).strip().toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on" -> true;
            case "false", "no", "off" -> false;
            default -> throw new ConfigException(key + ": expected true or false, got '" + v.get(key) + "'");
        };
    }

    private static <E extends Enum<E>> E choice(Map<String, String> v, String key, Class<E> type) {
        String value = v.get(key).strip().toUpperCase(Locale.ROOT);
        for (E constant : type.getEnumConstants()) {
            if (constant.name().equals(value)) return constant;
        }
        throw new ConfigException(key + ": '" + v.get(key) + "' is not one of "
                + java.util.Arrays.stream(type.getEnumConstants()).map(e -> e.name().toLowerCase(Locale.ROOT)).toList());
    }
}
