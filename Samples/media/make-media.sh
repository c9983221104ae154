#!/usr/bin/env bash
# Makes the demo origin's media clip (run once; the output is committed next to this script).
# Video: 2 s of ffmpeg's testsrc2 pattern (it burns in a clock and a frame counter) in three
# renditions, H.264 Main, 24 fps, a closed GOP every 12 frames (0.5 s), no B-frames, an access
# unit delimiter before every frame and SPS/PPS before every IDR, so that any segment of whole
# GOPs plays on its own. Audio: 96 AAC-LC frames (2.048 s) of a 375 Hz tone, whose period
# divides the loop, after the encoder's one priming frame. The origin loops video and audio
# separately with continuous timestamps and pads every segment to its nominal bitrate.
set -euo pipefail
cd "$(dirname "$0")"
font=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf  # Debian: fonts-dejavu-core
for size in 640x360 960x540 1280x720; do
    height=${size#*x}
    ffmpeg -hide_banner -v error -y -f lavfi -i "testsrc2=size=$size:rate=24" -frames:v 48 \
        -vf "drawtext=fontfile=$font:text='MiniCache ${height}p':fontsize=h/12:fontcolor=white:box=1:boxcolor=black@0.6:x=(w-tw)/2:y=h-th*2" \
        -c:v libx264 -preset veryslow -profile:v main -level:v 3.1 -pix_fmt yuv420p -crf 36 \
        -x264-params "keyint=12:min-keyint=12:scenecut=0:bframes=0:aud=1:repeat-headers=1" \
        -f h264 "${height}p.h264"
done
ffmpeg -hide_banner -v error -y -f lavfi -i "sine=frequency=375:sample_rate=48000" -af "atrim=end_sample=98304" \
    -ac 1 -c:a aac -b:a 64k -f adts audio.aac
