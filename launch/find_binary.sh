# Sourced by the launch scripts: cnn_ddp_binary ROOT prints the trainer to use — $CNN_DDP_BIN, else
# ROOT/build/cnn_ddp, else the newest ROOT/build*/cnn_ddp (empty when there is none). Its CUDA backend,
# for --device cuda, is the libcnn_ddp_cuda.so beside it (or $CNN_DDP_CUDA_BACKEND).
cnn_ddp_binary() {
    local root=$1 bin=${CNN_DDP_BIN:-} b
    if [[ -z $bin ]]; then
        if [[ -x $root/build/cnn_ddp ]]; then
            bin=$root/build/cnn_ddp
        else
            for b in "$root"/build*/cnn_ddp; do   # the newest build wins
                [[ -x $b && ( -z $bin || $b -nt $bin ) ]] && bin=$b
            done
        fi
    fi
    printf '%s\n' "$bin"
}
