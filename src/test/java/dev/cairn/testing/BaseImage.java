package dev.cairn.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A tiny base image made here, never pulled from outside: busybox-static's binary in a root
 * filesystem, packed by umoci into an OCI layout and copied into Cairn by skopeo.
 */
public final class BaseImage {
    private static final List<String> APPLETS = List.of("sh", "ls", "cat", "echo", "date", "mkdir", "touch", "rm",
            "cp", "mv", "true", "false", "env", "sleep", "sha256sum", "head", "tail", "wc", "grep", "sed", "test", "[", "dd");

    private BaseImage() {
    }

    /**
     * Builds the base image and pushes it to {@code registryHostPort/repository:tag} over plain HTTP.
     * Returns the full reference to use in a Dockerfile's FROM.
     */
    public static String pushTo(String registryHostPort, String repository, String tag) throws IOException, InterruptedException {
        return push(buildLayout(false), registryHostPort, repository, tag);
    }

    /**
     * As {@link #pushTo}, an image for compiling with the host's toolchain: busybox, an empty {@code /usr} for
     * the build to mount the host's over ({@code -v /usr:/usr:ro}: gcc and ccache without pulling a distribution),
     * {@code /lib} and {@code /lib64} pointing into it as on Debian, and {@code PATH=/usr/bin:/bin}.
     */
    public static String pushToolchainTo(String registryHostPort, String repository, String tag) throws IOException, InterruptedException {
        return push(buildLayout(true), registryHostPort, repository, tag);
    }

    /** Copies the layout's image into the registry with skopeo, then removes the layout. */
    private static String push(Path layout, String registryHostPort, String repository, String tag) throws IOException, InterruptedException {
        try {
            String reference = registryHostPort + "/" + repository + ":" + tag;
            Processes.runOk(List.of(DebianTools.skopeo(), "copy", "--quiet", "--dest-tls-verify=false",
                    "oci:" + layout + ":base", "docker://" + reference), Duration.ofMinutes(2));
            return reference;
        } finally {
            TempFiles.deleteRecursively(layout.getParent());
        }
    }

    /** An OCI layout directory holding the image under the tag {@code base}. */
    public static Path buildLayout() throws IOException, InterruptedException {
        return buildLayout(false);
    }

    private static Path buildLayout(boolean forHostToolchain) throws IOException, InterruptedException {
        String umoci = DebianTools.umoci();
        String busybox = DebianTools.busybox();
        Path work = Files.createTempDirectory("cairn-base-");
        Path layout = work.resolve("oci");
        Path bundle = work.resolve("bundle");
        Duration limit = Duration.ofMinutes(1);
        Processes.runOk(List.of(umoci, "init", "--layout", layout.toString()), limit);
        Processes.runOk(List.of(umoci, "new", "--image", layout + ":base"), limit);
        Processes.runOk(List.of(umoci, "unpack", "--image", layout + ":base", bundle.toString()), limit);
        Path bin = bundle.resolve("rootfs/bin");
        Files.createDirectories(bin);
        Files.copy(Path.of(busybox), bin.resolve("busybox"));
        bin.resolve("busybox").toFile().setExecutable(true, false);
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Files.createDirectories(bundle.resolve("rootfs/tmp"));
        Files.createDirectories(bundle.resolve("rootfs/etc"));
        Files.writeString(bundle.resolve("rootfs/etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
        Files.writeString(bundle.resolve("rootfs/etc/group"), "root:x:0:\n");
        if (forHostToolchain) {
            Files.createDirectories(bundle.resolve("rootfs/usr"));
            Files.createDirectories(bundle.resolve("rootfs/root"));
            Files.createSymbolicLink(bundle.resolve("rootfs/lib"), Path.of("usr/lib"));
            Files.createSymbolicLink(bundle.resolve("rootfs/lib64"), Path.of("usr/lib64"));
        }
        Processes.runOk(List.of(umoci, "repack", "--image", layout + ":base", bundle.toString()), limit);
        List<String> config = new ArrayList<>(List.of(umoci, "config", "--image", layout + ":base",
                "--config.cmd", "/bin/sh", "--os", "linux", "--architecture", "amd64", "--config.env", forHostToolchain ? "PATH=/usr/bin:/bin" : "PATH=/bin"));
        Processes.runOk(config, limit);
        TempFiles.deleteRecursively(bundle);
        return layout;
    }
}
