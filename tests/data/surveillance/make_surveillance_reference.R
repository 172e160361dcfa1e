# Reference outputs of R `surveillance` (GPL-2, used as a black-box oracle only) for
# healthtwin.surveillance. Run from this folder:  Rscript make_surveillance_reference.R
# Writes series.csv (the inputs), ears_reference.csv, farrington_reference.csv,
# farrington_first_t.csv (the first week R can monitor per series and setting) and
# cusum_reference.csv.
suppressMessages(library(surveillance))
stopifnot(packageVersion("surveillance") == "1.20.3")

num <- function(x) ifelse(is.na(x), "NA", sprintf("%.17g", x))

data(salmNewport); data(momo); data(campyDE); data(ha.sts)
data(salmonella.agona); data(shadar)
newport_total <- aggregate(salmNewport, by = "unit")
campy <- sts(observed = campyDE$case, epoch = as.numeric(campyDE$date), epochAsDate = TRUE,
             frequency = 52)
series <- list(
  salmNewport_total = newport_total,
  salmNewport_Bavaria = salmNewport[, "Bavaria"],
  momo_75_85 = momo[, "[75,85)"],
  campyDE = campy,
  salmonella_agona = disProg2sts(salmonella.agona),
  ha_pank = ha.sts[, "pank"],
  shadar = disProg2sts(shadar)
)

rows <- list()
for (name in names(series)) {
  s <- series[[name]]
  n <- nrow(s)
  dated <- s@epochAsDate
  if (dated) {
    d <- as.Date(epoch(s))
    iso <- isoWeekYear(d)
    rows[[name]] <- data.frame(series = name, t = seq_len(n), date = format(d),
                               observed = as.integer(observed(s)[, 1]),
                               year = iso$ISOYear, week = iso$ISOWeek)
  } else {
    wk <- (s@start[2] - 1 + seq_len(n) - 1)
    rows[[name]] <- data.frame(series = name, t = seq_len(n), date = "",
                               observed = as.integer(observed(s)[, 1]),
                               year = s@start[1] + wk %/% s@freq, week = wk %% s@freq + 1)
  }
}
write.csv(do.call(rbind, rows), "series.csv", row.names = FALSE, quote = FALSE)

# EARS C1, C2, C3: R's defaults and a non-default baseline / minSigma / alpha.
ears_configs <- list(
  C1_default = list(method = "C1"),
  C2_default = list(method = "C2"),
  C3_default = list(method = "C3"),
  C1_b10 = list(method = "C1", baseline = 10, minSigma = 0.5, alpha = 0.01),
  C2_b10 = list(method = "C2", baseline = 10, minSigma = 0.5, alpha = 0.01),
  C3_b10 = list(method = "C3", baseline = 10, minSigma = 0.5, alpha = 0.01)
)
first_ears <- c(C1 = 1, C2 = 3, C3 = 5)
out <- list()
for (name in names(series)) {
  s <- series[[name]]
  for (cfg in names(ears_configs)) {
    control <- ears_configs[[cfg]]
    baseline <- if (is.null(control$baseline)) 7 else control$baseline
    start <- baseline + first_ears[[control$method]]
    control$range <- start:min(nrow(s), 160)
    res <- earsC(s, control = control)
    out[[paste(name, cfg)]] <- data.frame(
      series = name, config = cfg, t = control$range,
      upperbound = num(upperbound(res)[, 1]), alarm = as.integer(alarms(res)[, 1]))
  }
}
write.csv(do.call(rbind, out), "ears_reference.csv", row.names = FALSE, quote = FALSE)

# farringtonFlexible: Noufaily et al. (2013) settings (nbPlugin, muan, delta) and the
# original Farrington et al. (1996) settings (delta with the three power transforms).
noufaily <- list(b = 5, w = 3, noPeriods = 10, pastWeeksNotIncluded = 26,
                 weightsThreshold = 2.58, pThresholdTrend = 1, powertrans = "2/3")
original <- list(b = 5, w = 3, noPeriods = 1, pastWeeksNotIncluded = 3,
                 weightsThreshold = 1, pThresholdTrend = 0.05, alpha = 0.01,
                 thresholdMethod = "delta")
farr_configs <- list(
  noufaily_nbPlugin = c(noufaily, list(thresholdMethod = "nbPlugin")),
  noufaily_muan = c(noufaily, list(thresholdMethod = "muan")),
  noufaily_delta = c(noufaily, list(thresholdMethod = "delta", alpha = 0.01)),
  original_delta = c(original, list(powertrans = "2/3")),
  original_sqrt = modifyList(original, list(powertrans = "1/2", b = 3, alpha = 0.05)),
  original_none = modifyList(original, list(powertrans = "none", b = 4, w = 2))
)
can_run <- function(s, control, t) {
  control$range <- t
  ok <- tryCatch({ suppressWarnings(farringtonFlexible(s, control = control)); TRUE },
                 error = function(e) FALSE)
  ok
}
out <- list(); firsts <- list()
for (name in names(series)) {
  s <- series[[name]]
  n <- nrow(s)
  for (cfg in names(farr_configs)) {
    control <- farr_configs[[cfg]]
    start <- 52 * control$b - 10
    while (!can_run(s, control, start)) start <- start + 1
    firsts[[paste(name, cfg)]] <- data.frame(series = name, config = cfg, first_t = start)
    control$range <- max(start, n - 89):n
    res <- suppressWarnings(farringtonFlexible(s, control = control))
    ctl <- res@control
    out[[paste(name, cfg)]] <- data.frame(
      series = name, config = cfg, t = control$range,
      expected = num(ctl$expected[, 1]), upperbound = num(upperbound(res)[, 1]),
      alarm = as.integer(alarms(res)[, 1]), score = num(ctl$score[, 1]),
      phi = num(ctl$phiVector[, 1]), trend = as.integer(ctl$trend[, 1]))
  }
}
write.csv(do.call(rbind, out), "farrington_reference.csv", row.names = FALSE, quote = FALSE)
write.csv(do.call(rbind, firsts), "farrington_first_t.csv", row.names = FALSE, quote = FALSE)

# cusum: R's defaults (m = mean of all weeks before the range) with three transforms, and
# a given m with other k, h.
cusum_configs <- list(
  standard = list(trans = "standard"),
  rossi = list(trans = "rossi"),
  anscombe = list(trans = "anscombe"),
  standard_m = list(trans = "standard", k = 0.5, h = 4)
)
out <- list()
for (name in names(series)) {
  s <- series[[name]]
  n <- nrow(s)
  for (cfg in names(cusum_configs)) {
    control <- cusum_configs[[cfg]]
    control$range <- (n - 59):n
    if (cfg == "standard_m") control$m <- mean(observed(s)[1:(n - 60), 1]) * 1.2
    res <- cusum(s, control = control)
    out[[paste(name, cfg)]] <- data.frame(
      series = name, config = cfg, t = control$range, m = num(res@control$m[1]),
      upperbound = num(upperbound(res)[, 1]), alarm = as.integer(alarms(res)[, 1]))
  }
}
write.csv(do.call(rbind, out), "cusum_reference.csv", row.names = FALSE, quote = FALSE)
