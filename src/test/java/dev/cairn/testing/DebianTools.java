package dev.cairn.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The Debian tools the real-client tests drive. A missing tool fails the test with the package to
 * install (bin/test installs them all); no test skips itself.
 */
public final class DebianTools {
    private DebianTools() {
    }

    /** Returns the tool's path, or fails naming the Debian package that provides it. */
    public static String require(String path, String debianPackage) {
        if (!Files.isExecutable(Path.of(path))) {
            throw new AssertionError(path + " is missing: install the Debian package '" + debianPackage
                    + "' (bin/test does: apt-get install " + debianPackage + ")");
        }
        return path;
    }

    public static String skopeo() {
        return require("/usr/bin/skopeo", "skopeo");
    }

    public static String buildah() {
        return require("/usr/bin/buildah", "buildah");
    }

    public static String podman() {
        return require("/usr/bin/podman", "podman");
    }

    public static String umoci() {
        return require("/usr/bin/umoci", "umoci");
    }

    public static String busybox() {
        return require("/bin/busybox", "busybox-static");
    }

    public static String dockerd() {
        return require("/usr/sbin/dockerd", "docker.io");
    }

    /** Debian's docker.io client, which can run BuildKit builds (the newer client on PATH cannot). */
    public static String docker() {
        return require("/usr/bin/docker", "docker.io");
    }
}
