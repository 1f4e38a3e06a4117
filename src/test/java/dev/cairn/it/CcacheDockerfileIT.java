package dev.cairn.it;

import dev.cairn.testing.BaseImage;
import dev.cairn.testing.DebianTools;
import dev.cairn.testing.RunningCairn;
import dev.cairn.testing.TempFiles;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The README's recipe for a Dockerfile whose compile step uses ccache through Cairn: the ccache
 * configuration reaches the RUN step as a secret mount, so it is not part of the step's cache key. Two
 * buildah runners with empty storage share layers and compiled objects through one Cairn: after a change
 * to one source file the compile step runs again (its COPY input changed) and ccache finds every
 * unchanged file's object in Cairn; a runner whose ccache configuration differs still takes every layer.
 * The compiler is the host's (its /usr mounted read-only into the build): nothing is pulled from outside.
 */
class CcacheDockerfileIT {
    private static final int SOURCES = 6;
    private static final String DOCKERFILE = """
            FROM %s
            COPY src/ /src/
            RUN --mount=type=secret,id=ccache,target=/etc/ccache.conf cd /src && for f in *.c; do ccache gcc -O2 -c "$f" || exit 1; done \\
                && ccache --print-stats | grep -E '^remote_storage_(hit|miss)'
            """;

    @Test
    void aChangedSourceRerunsTheCompileStepWithRemoteHitsForEveryUnchangedFile() throws Exception {
        DebianTools.require("/usr/bin/ccache", "ccache");
        DebianTools.require("/usr/bin/gcc", "gcc");
        Path work = Files.createTempDirectory("cairn-ccache-dockerfile-");
        try (RunningCairn cairn = RunningCairn.start()) {
            String base = BaseImage.pushToolchainTo(cairn.hostPort(), "base/toolchain", "1");
            String cache = cairn.hostPort() + "/cache/compile";
            Path config = work.resolve("ccache.conf");
            Files.writeString(config, "remote_storage = http://" + cairn.hostPort() + "/cache/ccache\nremote_only = true\n");
            List<String> flags = List.of("--secret", "id=ccache,src=" + config, "-v", "/usr:/usr:ro");

            CiRunner.Build a;
            try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "A")) {
                a = runner.build(project(work.resolve("a"), base, 0), cache, flags);
            }
            assertThat(a.printedLine("remote_storage_miss\t" + SOURCES)).as("runner A compiles everything:\n" + a.output()).isTrue();

            CiRunner.Build b;
            try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "B")) {
                b = runner.build(project(work.resolve("b"), base, 3), cache, flags);
            }
            assertThat(b.stepsAfterFrom().get(0).usedCache()).as("the COPY input changed:\n" + b.output()).isFalse();
            assertThat(b.printedLine("remote_storage_hit\t" + (SOURCES - 1))).as("every unchanged file from Cairn:\n" + b.output()).isTrue();
            assertThat(b.printedLine("remote_storage_miss\t1")).as(b.output()).isTrue();

            // Another runner, another ccache configuration (another namespace): the step's cache key is the same.
            Path otherConfig = work.resolve("other.conf");
            Files.writeString(otherConfig, "remote_storage = http://" + cairn.hostPort() + "/cache/elsewhere\nremote_only = true\n");
            CiRunner.Build c;
            try (CiRunner runner = CiRunner.fresh(CiRunner.Client.BUILDAH, "C")) {
                c = runner.build(project(work.resolve("c"), base, 3), cache, List.of("--secret", "id=ccache,src=" + otherConfig, "-v", "/usr:/usr:ro"));
            }
            assertThat(c.stepsAfterFrom()).as("the secret's content is not part of the key:\n" + c.output()).allMatch(CiRunner.Step::usedCache);
        } finally {
            TempFiles.deleteRecursively(work);
        }
    }

    /** The Dockerfile and {@link #SOURCES} C files; {@code changed} (when not 0) is the one file that differs. */
    private static Path project(Path dir, String base, int changed) throws Exception {
        Files.createDirectories(dir.resolve("src"));
        Files.writeString(dir.resolve("Dockerfile"), DOCKERFILE.formatted(base));
        for (int i = 1; i <= SOURCES; i++) {
            int factor = i == changed ? i * 100 : i;
            Files.writeString(dir.resolve("src/unit" + i + ".c"), "int unit" + i + "(int x) { return x * " + factor + "; }\n");
        }
        return dir;
    }
}
