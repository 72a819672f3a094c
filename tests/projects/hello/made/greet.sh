greet () {
  echo "{\"made\": true, \"greeting\": \"$GREETING\", \"event\": $1}"
}
