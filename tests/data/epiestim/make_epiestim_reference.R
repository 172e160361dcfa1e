# Reference Rt estimates from R EpiEstim (Cori et al. 2013) on its shipped data sets.
# Run from this folder: Rscript make_epiestim_reference.R   (Debian: r-cran-epiestim 2.2-4)
suppressPackageStartupMessages(library(EpiEstim))
stopifnot(packageVersion("EpiEstim") == "2.2.4")

ours <- c("t_start", "t_end", "mean_R", "std_R", "q0025_R", "q005_R", "q025_R",
          "median_R", "q075_R", "q095_R", "q0975_R")

write_full <- function(df, file) {
  out <- as.data.frame(lapply(df, function(x) {
    if (inherits(x, "Date")) format(x) else sprintf("%.17g", x)
  }))
  names(out) <- names(df)
  write.csv(out, file, row.names = FALSE, quote = FALSE)
}

write_rt <- function(incid, config, method, file) {
  res <- estimate_R(incid, method = method, config = make_config(config))
  r <- res$R
  stopifnot(ncol(r) == length(ours))
  names(r) <- ours
  write_full(r, file)
}

# Flu2009: dates and I, parametric serial interval mean 2.6, sd 1.5.
data(Flu2009)
write_full(Flu2009$incidence, "flu2009_incidence.csv")
suppressWarnings(write_rt(Flu2009$incidence, list(mean_si = 2.6, std_si = 1.5),
                          "parametric_si", "flu2009_rt_parametric.csv"))

# MERS 2014-15: local and imported cases, parametric serial interval mean 6.8, sd 4.1.
data(mers_2014_15)
mers <- mers_2014_15$incidence
names(mers) <- c("dates", "local", "imported")
write_full(mers, "mers_2014_15_incidence.csv")
suppressWarnings(write_rt(mers, list(mean_si = mers_2014_15$si$mean_si,
                                     std_si = mers_2014_15$si$std_si),
                          "parametric_si", "mers_2014_15_rt_parametric.csv"))

# SARS2003: I only, given serial-interval distribution.
data(SARS2003)
write_full(data.frame(I = SARS2003$incidence), "sars2003_incidence.csv")
write_full(data.frame(si_distr = SARS2003$si_distr), "sars2003_si_distr.csv")
suppressWarnings(write_rt(SARS2003$incidence, list(si_distr = SARS2003$si_distr),
                          "non_parametric_si", "sars2003_rt_si_distr.csv"))

# Flu1918: I only, given serial-interval distribution, 14-day windows.
data(Flu1918)
write_full(data.frame(I = Flu1918$incidence), "flu1918_incidence.csv")
write_full(data.frame(si_distr = Flu1918$si_distr), "flu1918_si_distr.csv")
T <- length(Flu1918$incidence)
suppressWarnings(write_rt(Flu1918$incidence,
                          list(si_distr = Flu1918$si_distr, t_start = seq(2, T - 13),
                               t_end = seq(15, T)),
                          "non_parametric_si", "flu1918_rt_si_distr_window14.csv"))
