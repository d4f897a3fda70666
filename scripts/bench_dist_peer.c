/* Open MPI's own allreduce figures for scripts/bench dist: blocking MPI_Allreduce (sum, float) of 1-100 MB buffers,
 * the way osu_allreduce measures it (warm-up, then the mean of timed iterations; rank 0 prints); then the same with
 * MPI_Iallreduce + an MPI_Test loop (what moon.dist does underneath, to poll against a deadline).
 * Build: mpicc -O2 scripts/bench_dist_peer.c -o bench_dist_peer */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int mbs[] = {1, 10, 100};
    for (int k = 0; k < 3; k++) {
        long n = (long)mbs[k] * 1000000 / 4;
        float *buf = malloc(n * sizeof(float));
        for (long i = 0; i < n; i++) buf[i] = (float)(i % 7);
        int iters = mbs[k] >= 100 ? 5 : (mbs[k] >= 10 ? 20 : 100);
        MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < iters; i++) MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double dt = (MPI_Wtime() - t0) / iters;
        if (rank == 0) printf("RESULT openmpi %d MB %.6f s %.3f GB/s\n", mbs[k], dt, mbs[k] * 1e6 / dt / 1e9);
        MPI_Barrier(MPI_COMM_WORLD);
        t0 = MPI_Wtime();
        for (int i = 0; i < iters; i++) {
            MPI_Request req;
            int done = 0;
            MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
            while (!done) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        }
        dt = (MPI_Wtime() - t0) / iters;
        if (rank == 0) printf("RESULT openmpi-nonblocking %d MB %.6f s %.3f GB/s\n", mbs[k], dt, mbs[k] * 1e6 / dt / 1e9);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
